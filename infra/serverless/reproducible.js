'use strict';
// A local Serverless Framework (osls) plugin: the same sources build the same zip, byte for
// byte, in any clone on any machine, so the Framework's "no changes to deploy" check (a hash of
// the artifact) holds and a reviewer can rebuild what was deployed.
//
// The one machine-specific input was pip's script installation: for a `scripts=` file such as
// jmespath's `bin/jp.py`, pip writes the absolute path of the interpreter that ran it into the
// shebang (".../.venv/bin/python"), and the file's hash into the wheel's RECORD. Lambda never
// runs those scripts (handlers are imported), so this plugin removes `bin/` from the installed
// requirements and the RECORD lines of files installed outside the package directory
// (`../../bin/...`). The second was the umask: serverless-python-requirements zips each
// installed file with its mode as pip left it, so every file is set to 0644 (0755 if any
// execute bit was set), as the Framework itself does for the service's own files. The rest is
// deterministic already: both zip in a fixed order with a fixed date, and
// infra/serverless/bytecode.js compiles hash-checked bytecode with a fixed hash seed.
// tests/functional/test_deploy_reproducible.py builds twice (two directories, two interpreter
// paths) and compares the zips' hashes.
//
// Listed after bytecode.js and before serverless-python-requirements in serverless.yml: its
// hook runs after the requirements were installed and compiled, before they are injected.
const fs = require('fs');
const path = require('path');

const REQUIREMENTS = path.join('.serverless', 'requirements');

class Reproducible {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'after:package:createDeploymentArtifacts': () => this.normalize(),
    };
  }

  normalize() {
    const root = path.join(this.serverless.serviceDir, REQUIREMENTS);
    if (!fs.existsSync(root)) return;
    fs.rmSync(path.join(root, 'bin'), { recursive: true, force: true });
    for (const entry of fs.readdirSync(root)) {
      const record = path.join(root, entry, 'RECORD');
      if (!entry.endsWith('.dist-info') || !fs.existsSync(record)) continue;
      const lines = fs.readFileSync(record, 'utf8').split('\n');
      const kept = lines.filter((line) => !line.startsWith('../'));
      if (kept.length !== lines.length) fs.writeFileSync(record, kept.join('\n'));
    }
    normalizeModes(root);
  }
}

function normalizeModes(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      normalizeModes(file);
    } else if (entry.isFile()) {
      fs.chmodSync(file, fs.statSync(file).mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

module.exports = Reproducible;
