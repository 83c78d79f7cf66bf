'use strict';
// A local Serverless Framework plugin: put compiled bytecode into the Lambda package.
//
// Lambda's code directory (/var/task) is read-only, so CPython cannot cache what it compiles
// there: without .pyc files every cold start compiles every imported module from source
// (measured: 2.3x the cold start, docs/performance.md). The Framework zips files with a fixed
// date, so timestamp-checked .pyc files would look stale; these are "checked-hash" ones: the
// interpreter compares a hash of the source, so they are used on Lambda, and a later edit of
// the working tree (where `make package` compiles) is never shadowed by stale bytecode.
//
// Bytecode is specific to a CPython version: the interpreter that compiles (SLS_PYTHON_BIN,
// as serverless-python-requirements uses) must match provider.runtime, or packaging stops.
// The slower fallback, for a machine without that Python: SLS_BYTECODE=off (`make package
// BYTECODE=off`) packages no bytecode at all, and every cold start compiles what it imports.
// PYTHONHASHSEED is fixed so that the same sources compile to the same bytes
// (infra/serverless/reproducible.js).
// Listed before serverless-python-requirements in serverless.yml, so that the requirements it
// installed are compiled before it adds them to the zip.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

class Bytecode {
  constructor(serverless) {
    this.serverless = serverless;
    if (process.env.SLS_BYTECODE === 'off') {
      // No .pyc at all, not even ones a local run left in bot/**/__pycache__.
      const pkg = serverless.service.package || (serverless.service.package = {});
      pkg.patterns = [...(pkg.patterns || []), '!**/__pycache__/**'];
      this.hooks = {
        'before:package:createDeploymentArtifacts': () =>
          serverless.cli.log('SLS_BYTECODE=off: no bytecode (slower cold starts)'),
      };
      return;
    }
    this.hooks = {
      // The service's own code, before the Framework zips it.
      'before:package:createDeploymentArtifacts': () => this.compile(['bot']),
      // The requirements, after serverless-python-requirements installed them and before it
      // injects them (its hook for this event runs after this one).
      'after:package:createDeploymentArtifacts': () =>
        this.compile([path.join('.serverless', 'requirements')]),
    };
  }

  compile(dirs) {
    const runtime = this.serverless.service.provider.runtime || '';
    const wanted = runtime.replace(/^python/, '');
    const python = process.env.SLS_PYTHON_BIN || 'python3';
    const version = execFileSync(python, [
      '-c',
      'import sys; print("%d.%d" % sys.version_info[:2])',
    ])
      .toString()
      .trim();
    if (version !== wanted) {
      throw new this.serverless.classes.Error(
        `bytecode for ${runtime} needs Python ${wanted}, but ${python} is Python ${version}: ` +
          `point SLS_PYTHON_BIN at a Python ${wanted} (\`make package\` uses the project's venv), ` +
          'or package without bytecode (slower cold starts) with SLS_BYTECODE=off'
      );
    }
    const cwd = this.serverless.serviceDir;
    const present = dirs.filter((dir) => fs.existsSync(path.join(cwd, dir)));
    if (present.length === 0) return;
    execFileSync(
      python,
      ['-m', 'compileall', '-q', '-f', '-j', '0', '--invalidation-mode', 'checked-hash', ...present],
      { cwd, stdio: 'inherit', env: { ...process.env, PYTHONHASHSEED: '0' } }
    );
    this.serverless.cli.log(`Compiled ${present.join(', ')} for ${runtime}`);
  }
}

module.exports = Bytecode;
