'use strict';
// A local Serverless Framework (osls) plugin: every deployment parameter is checked when the
// template is built, so a bad value stops `serverless package` / `deploy` with one line that
// names it, instead of deploying a stack that fails later (a bot-token name without its
// leading "/" became the IAM resource "...:parametermy-token", and every function failed at
// start with AccessDenied).
//
// serverless.yml and infra/resources/*.yml read parameters as `${checked:NAME}` (this
// plugin's variable source) instead of `${param:NAME}`: the source resolves `param:NAME` the
// Framework's way (--param beats the stage's params, which beat params.default) and refuses a
// value its rule below rejects. A `--param` whose name is not one of these is refused too (a
// typo would otherwise be ignored silently). tests/functional/test_deploy_params.py holds a
// failing case for each rule, through the CLI.

// Slack ids as bot/models.py reads them. D… (direct message) ids are refused: the app has no
// im:* scopes (infra/slack-app-manifest.yml), so the bot cannot post there.
const CHANNEL_ID = /^[CG][A-Z0-9]{2,}$/;
const PRINCIPAL_ID = /^[UWS][A-Z0-9]{2,}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];
// Characters a state machine name may not contain (CreateStateMachine, "name"), plus "?":
// the pattern is an IAM ARN pattern and an EventBridge wildcard, which knows only "*".
const NOT_IN_NAME = /[\s<>{}[\]?"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

function ssmName(value) {
  // SSM: letters, digits, _ . - and "/" between levels; at most 1011 characters and 15
  // levels; no level named aws… or ssm… at the top (reserved).
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(value)) {
    return 'must be an SSM parameter name starting with "/", like /sfn-approvals/prod/slack-bot-token (letters, digits, _ . - between the slashes)';
  }
  if (value.length > 1011) return 'must be at most 1011 characters (SSM)';
  if (value.split('/').length - 1 > 15) return 'must have at most 15 levels (SSM)';
  if (/^\/(aws|ssm)/i.test(value)) return 'must not start with /aws or /ssm (reserved by SSM)';
  return null;
}

function channel(value) {
  if (value === '') return null;
  if (value.startsWith('D')) {
    return 'is a direct-message id (D…): the bot posts to channels only (C… or G…) and has no im:* scopes';
  }
  return CHANNEL_ID.test(value) ? null : 'must be a Slack channel id like C0123456789 (C… or G…), or empty';
}

function approvers(value) {
  const bad = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '' && !PRINCIPAL_ID.test(part));
  return bad.length === 0
    ? null
    : `must list Slack user ids (U…/W…) or user-group ids (S…), separated by commas; not ${bad.join(', ')}`;
}

function bool(value) {
  return value === 'true' || value === 'false' ? null : 'must be "true" or "false"';
}

function email(value) {
  return value === '' || EMAIL.test(value) ? null : 'must be an e-mail address, or empty';
}

function namePattern(value) {
  if (value === '' || value.length > 80 || NOT_IN_NAME.test(value)) {
    return 'must be a state machine name, 1 to 80 characters, where "*" matches any characters (like deploy-*); no spaces, "?", "/", ":" or other characters names may not contain';
  }
  return null;
}

function logLevel(value) {
  return LOG_LEVELS.includes(value) ? null : `must be one of ${LOG_LEVELS.join(', ')}`;
}

const RULES = {
  slackBotTokenParam: ssmName,
  slackSigningSecretParam: ssmName,
  defaultChannel: channel,
  defaultApprovers: approvers,
  allowSelfApproval: bool,
  deployExample: bool,
  alarmEmail: email,
  stateMachineNamePattern: namePattern,
  logLevel,
};

// The problem with one parameter's value, or null.
function check(name, value) {
  const rule = RULES[name];
  if (!rule) return `is not a parameter of this service (known: ${Object.keys(RULES).join(', ')})`;
  if (typeof value !== 'string') return 'must be a string';
  return rule(value);
}

function message(name, value, problem) {
  return `Invalid parameter ${name}=${JSON.stringify(value)}: ${problem}`;
}

class Params {
  constructor(serverless, options, utils) {
    const ServerlessError = serverless.classes.Error;
    // Names given on the command line: --param="name=value" (repeatable).
    for (const given of [].concat((options && options.param) || [])) {
      const name = String(given).split('=', 1)[0];
      if (!RULES[name]) {
        throw new ServerlessError(message(name, String(given).slice(name.length + 1), check(name)));
      }
    }
    // Every bad value is reported once, in the `initialize` lifecycle event (the first of
    // every command, before anything is packaged or deployed): the Framework would otherwise
    // repeat the error for each place the parameter is used. Until then a bad value resolves
    // to itself (deployExample to "false"), so that the rest of the configuration resolves.
    const problems = new Map();
    let warned = false;
    this.hooks = {
      initialize: () => {
        if (problems.size > 0) throw new ServerlessError([...problems.values()].join('\n'));
      },
    };
    this.configurationVariablesSources = {
      checked: {
        async resolve({ address, resolveVariable }) {
          const value = await resolveVariable(`param:${address}`);
          const problem = check(address, value);
          if (problem) {
            problems.set(address, message(address, value, problem));
            return { value: address === 'deployExample' ? 'false' : value };
          }
          if (address === 'stateMachineNamePattern' && value === '*' && !warned) {
            warned = true;
            const warning =
              'stateMachineNamePattern="*": the bot may read every execution of every state ' +
              'machine in this account and region, and every failed execution invokes ' +
              'expirations (docs/deploy.md, "stateMachineNamePattern")';
            if (utils && utils.log) utils.log.warning(warning);
            else serverless.cli.log(`Warning: ${warning}`);
          }
          return { value };
        },
      },
    };
  }
}

module.exports = Params;
module.exports.check = check;
