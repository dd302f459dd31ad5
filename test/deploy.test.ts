// deploy/ checked without kubectl or docker: every Kubernetes manifest against the API's schema
// (kubernetes-models), the references between them, the server's flags against the bridge's own
// `serve --help`, and the Dockerfile through a linter (dockerfile-utils). Each check is shown
// to fail on a broken copy.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { explainPythonExecutable } from '../src/process/pythonExecutable.js';

const repo = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const manifestsDir = path.join(repo, 'deploy', 'kubernetes');
const dockerfile = readFileSync(path.join(repo, 'deploy', 'Dockerfile'), 'utf8');

type Doc = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: any };

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

function loadManifests(): Doc[] {
  const docs: Doc[] = [];
  for (const file of readdirSync(manifestsDir).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(readFileSync(path.join(manifestsDir, file), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${file} parses as YAML`);
      docs.push(doc.toJS() as Doc);
    }
  }
  return docs;
}

/** Throws unless `doc` matches its kind's schema. */
function validateSchema(doc: Doc): void {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (!Model) throw new Error(`no schema here for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc).validate();
}

/** The flags `python -m snakepit_bridge serve` takes, from its own --help. */
const serveFlags = (() => {
  let flags: Set<string> | undefined;
  return () => {
    flags ??= new Set(
      execFileSync(explainPythonExecutable(undefined).path, ['-m', 'snakepit_bridge', 'serve', '--help'], {
        cwd: path.join(repo, 'python'),
        encoding: 'utf8',
      }).match(/--[a-z][a-z-]+/g),
    );
    return flags;
  };
})();

const flagValue = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

/** What must hold between the manifests; returns what does not. */
function crossCheck(docs: Doc[]): string[] {
  const problems: string[] = [];
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const [deployment] = byKind('Deployment');
  const labels = deployment.spec.template.metadata.labels as Record<string, string>;
  const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  if (!matches(deployment.spec.selector.matchLabels)) problems.push('the Deployment selector does not match its pod labels');
  for (const service of byKind('Service')) {
    if (!matches(service.spec.selector)) problems.push(`Service ${service.metadata.name} selects no pod of the Deployment`);
    if (service.spec.clusterIP !== 'None') problems.push(`Service ${service.metadata.name} is not headless: the pool needs one address per pod`);
  }
  for (const hpa of byKind('HorizontalPodAutoscaler')) {
    const target = hpa.spec.scaleTargetRef;
    if (target.kind !== 'Deployment' || target.name !== deployment.metadata.name) problems.push(`HPA ${hpa.metadata.name} scales something else`);
  }
  const pod = deployment.spec.template.spec;
  const [container] = pod.containers;
  const ports = new Set<number>(container.ports.map((p: { containerPort: number }) => p.containerPort));
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    const port = container[probe]?.grpc?.port;
    if (!ports.has(port)) problems.push(`${probe} asks port ${port}, which the container does not open`);
  }
  const args: string[] = container.args;
  for (const flag of args.filter((a) => a.startsWith('--'))) {
    if (!serveFlags().has(flag)) problems.push(`the container passes ${flag}, which serve does not take`);
  }
  const healthPort = Number(flagValue(args, '--health-listen')?.split(':').pop());
  if (container.readinessProbe?.grpc?.port !== healthPort) problems.push('the probes do not ask the --health-listen port');
  if (Number(flagValue(args, '--drain-timeout')) >= pod.terminationGracePeriodSeconds) {
    problems.push('--drain-timeout is not below terminationGracePeriodSeconds: the kubelet would kill calls still draining');
  }
  // Every file the server reads is a key of a Secret, mounted where the flag says.
  const secrets = new Map(byKind('Secret').map((s) => [s.metadata.name, s]));
  for (const flag of ['--tls-cert', '--tls-key', '--token-file']) {
    const file = flagValue(args, flag);
    const mount = container.volumeMounts.find((m: { mountPath: string }) => file?.startsWith(`${m.mountPath}/`));
    const volume = mount && pod.volumes.find((v: { name: string }) => v.name === mount.name);
    const secret = volume?.secret && secrets.get(volume.secret.secretName);
    const item = volume?.secret?.items?.find((i: { path: string }) => `${mount.mountPath}/${i.path}` === file);
    if (!secret || !item || !(item.key in (secret.stringData ?? secret.data ?? {}))) problems.push(`${flag} ${file} is not a mounted Secret key`);
  }
  return problems;
}

test('every manifest matches the Kubernetes schema of its kind, and a broken one does not', () => {
  const docs = loadManifests();
  assert.deepEqual(docs.map((d) => d.kind).sort(), ['Deployment', 'HorizontalPodAutoscaler', 'Namespace', 'Secret', 'Secret', 'Service']);
  for (const doc of docs) validateSchema(doc);

  const deployment = structuredClone(docs.find((d) => d.kind === 'Deployment')!);
  deployment.spec.replicas = 'three';
  assert.throws(() => validateSchema(deployment), /replicas must be integer/);
  const noPort = structuredClone(docs.find((d) => d.kind === 'Deployment')!);
  delete noPort.spec.template.spec.containers[0].readinessProbe.grpc.port;
  assert.throws(() => validateSchema(noPort), /grpc must have required property port/);
});

test('the manifests agree with each other and with the bridge server: labels, probes, flags, secrets, drain time', () => {
  const docs = loadManifests();
  assert.deepEqual(crossCheck(docs), []);

  const broken = structuredClone(docs);
  const deployment = broken.find((d) => d.kind === 'Deployment')!;
  const container = deployment.spec.template.spec.containers[0];
  container.args = [...container.args, '--worker-count', '4'];
  container.args[container.args.indexOf('--drain-timeout') + 1] = '60';
  container.readinessProbe.grpc.port = 9999;
  broken.find((d) => d.kind === 'Service')!.spec.selector = { app: 'other' };
  broken.find((d) => d.kind === 'Secret' && d.metadata.name === 'snakepit-bridge-token')!.stringData = { wrong: 'x' };
  const problems = crossCheck(broken).join('\n');
  for (const expected of [/passes --worker-count/, /not below terminationGracePeriodSeconds/, /readinessProbe asks port 9999/, /selects no pod/, /--token-file .* is not a mounted Secret key/]) {
    assert.match(problems, expected);
  }
});

test('the Dockerfile lints clean, copies what exists and runs the server; a broken one is flagged', () => {
  assert.deepEqual(lintDockerfile(dockerfile).map((d) => d.message), []);
  for (const [, source] of dockerfile.matchAll(/^COPY\s+(\S+)/gm)) assert.ok(existsSync(path.join(repo, source)), `COPY ${source} exists`);
  assert.match(dockerfile, /^ENTRYPOINT \["python", "-m", "snakepit_bridge", "serve"\]$/m);
  assert.match(dockerfile, /^FROM python:3\.\d+-slim/m, 'a pinned slim base');
  assert.match(dockerfile, /^USER \d+$/m, 'not root');
  for (const [flag] of dockerfile.matchAll(/--[a-z][a-z-]+/g)) {
    if (!['--no-cache-dir', '--uid', '--no-create-home', '--shell'].includes(flag)) assert.ok(serveFlags().has(flag), `CMD flag ${flag} is a serve flag`);
  }
  const broken = lintDockerfile('FRM python:3.11-slim\nEXPOSE fifty\nENTRYPOINT python -m x\n').map((d) => d.message).join('\n');
  assert.match(broken, /Unknown instruction: FRM/);
  assert.match(broken, /Invalid containerPort: fifty/);
});
