// Node surface of the supervisor's service helpers: generateLaunchdPlist (parsed back
// with python3's plistlib), generateSystemdUnit (checked by systemd-analyze verify when
// present), parseLaunchctlPrint / parseSystemctlShow on captures, doctorCheck, and bad
// input refused with keel's codes. (The Supervisor class and startActionsRunner are not
// in the Node surface yet.)
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'

const require = createRequire(import.meta.url)
const keel = require('../../node/keel.js')

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'keel-sv-'))

test('generateLaunchdPlist: a property list with the expected keys, values escaped', () => {
  const xml = keel.generateLaunchdPlist({
    programArguments: ['/usr/local/bin/keel', 'supervise', 'a&b<c>'],
    mode: 'system',
    userName: '_hive',
    logDir: '/var/log/keel',
  })
  const f = path.join(tmp(), 'p.plist')
  fs.writeFileSync(f, xml)
  const json = execFileSync('python3', ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', f])
  const p = JSON.parse(json)
  assert.equal(p.Label, 'dev.keel.supervisor')
  assert.deepEqual(p.ProgramArguments, ['/usr/local/bin/keel', 'supervise', 'a&b<c>'])
  assert.equal(p.KeepAlive, true)
  assert.equal(p.RunAtLoad, true)
  assert.equal(p.EnvironmentVariables.PATH, '/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin')
  assert.equal(p.EnvironmentVariables.HOME, '/var/_hive')
  assert.equal(p.StandardErrorPath, '/var/log/keel/dev.keel.supervisor.err.log')
})

test('generateSystemdUnit: Type=notify, watchdog, restart policy; verified by systemd-analyze', () => {
  const unit = keel.generateSystemdUnit({ execStart: ['/bin/sh', '-c', 'exec sleep 100'], watchdogMs: 30000 })
  for (const line of ['Type=notify', 'WatchdogSec=30s', 'Restart=always', 'KillMode=control-group', 'ExecStart=/bin/sh -c "exec sleep 100"']) {
    assert.ok(unit.split('\n').includes(line), `${line} in\n${unit}`)
  }
  if (fs.existsSync('/usr/bin/systemd-analyze')) {
    const f = path.join(tmp(), 'keel-sv-test.service')
    fs.writeFileSync(f, unit)
    execFileSync('/usr/bin/systemd-analyze', ['verify', f], { stdio: 'pipe' })
  }
})

test('parseLaunchctlPrint / parseSystemctlShow / doctorCheck', () => {
  const crash = 'gui/501/dev.keel.supervisor = {\n\tstate = spawn scheduled\n\tlast exit code = 1\n\tendpoints = {\n\t\tstate = active\n\t}\n}\n'
  const h = keel.parseLaunchctlPrint(crash)
  assert.deepEqual(h, { loaded: true, state: 'spawn-scheduled', rawState: 'spawn scheduled', lastExitCode: 1, lastSignal: null, pid: null, manager: 'launchd' })
  const c = keel.doctorCheck(h)
  assert.equal(c.status, 'fail')
  assert.match(c.message, /last exit code = 1/)
  assert.ok(c.fix)

  const s = keel.parseSystemctlShow('LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=42\nExecMainCode=0\nExecMainStatus=0\n')
  assert.equal(s.state, 'running')
  assert.equal(s.pid, 42)
  assert.equal(s.lastExitCode, null)
  assert.equal(keel.doctorCheck(s).status, 'pass')
  assert.equal(keel.parseSystemctlShow('LoadState=not-found\n').loaded, false)
})

test('bad input is refused with keel codes, never a crash', () => {
  assert.throws(() => keel.generateSystemdUnit({ execStart: ['sleep'] }), (e) => e.code === 'KEEL_INVALID_OPTION' && /execStart/.test(e.message))
  assert.throws(() => keel.generateLaunchdPlist({ programArguments: ['/x'], bogus: 1 }), (e) => typeof e.code === 'string' && /unknown field/.test(e.message) && !/bogus/.test(e.message))
  assert.throws(() => keel.generateLaunchdPlist('nope'), (e) => typeof e.code === 'string')
  assert.throws(() => keel.parseLaunchctlPrint(42), (e) => typeof e.code === 'string')
})
