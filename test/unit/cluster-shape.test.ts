import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { CLUSTER_VERSIONS, DB, DYNAMIC_CONFIG_FILE, HAPROXY_DIR, NUM_HISTORY_SHARDS, TEMPORAL_SERVICES, temporalServerConfig, portsFromBase } from '../../src/servers/cluster.js';
import { PROJECT_ROOT } from '../../src/servers/local-servers.js';
import { DELIVERY_KINDS, deliveryTaskQueue, TASK_QUEUE_DEFAULT } from '../../src/temporal/contract.js';
import { journeySearchAttributeKeys } from '../../src/temporal/search-attribute-keys.js';
import { coachingLive } from '../support/definitions.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
}

const compose = parse(readFileSync(join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const relative = (path: string) => `./${path.slice(PROJECT_ROOT.length + 1)}`;
const install = readFileSync(join(PROJECT_ROOT, 'scripts/install-cluster.sh'), 'utf8');

/**
 * docker-compose.yml is the shape `npm run start:cluster` runs (src/servers/cluster.ts): the same versions,
 * configuration and search attributes. Compose cannot run here (no Docker), so this reads both and compares.
 */
describe('docker-compose.yml and the native cluster are the same shape', () => {
  test('the same versions: images pinned to what the native cluster builds and installs', () => {
    const image = (name: string) => services[name]?.image;
    assert.equal(image('postgresql'), `postgres:${CLUSTER_VERSIONS.postgresqlMajor}`);
    for (const s of TEMPORAL_SERVICES) assert.equal(image(`temporal-${s}`), `temporalio/server:${CLUSTER_VERSIONS.temporalServer}`, s);
    assert.equal(image('temporal-schema'), `temporalio/admin-tools:${CLUSTER_VERSIONS.temporalServer}`);
    assert.equal(image('temporal-admin-tools'), `temporalio/admin-tools:${CLUSTER_VERSIONS.temporalServer}`);
    assert.equal(image('temporal-ui'), `temporalio/ui:${CLUSTER_VERSIONS.temporalUiServer}`);
    assert.equal(image('ferretdb'), `ghcr.io/ferretdb/ferretdb:${CLUSTER_VERSIONS.ferretdb}`);
    assert.equal(image('haproxy'), `haproxy:${CLUSTER_VERSIONS.haproxyMajorMinor}`);
    // The install script builds and installs the same.
    assert.match(install, new RegExp(`TEMPORAL_SERVER_VERSION="${CLUSTER_VERSIONS.temporalServer}"`));
    assert.match(install, new RegExp(`TEMPORAL_UI_SERVER_VERSION="${CLUSTER_VERSIONS.temporalUiServer}"`));
    assert.match(install, new RegExp(`POSTGRESQL_MAJOR="${CLUSTER_VERSIONS.postgresqlMajor}"`));
    assert.match(readFileSync(join(PROJECT_ROOT, 'tools/ferretdb/go.mod'), 'utf8'), new RegExp(`github.com/FerretDB/FerretDB v${CLUSTER_VERSIONS.ferretdb}\\b`));
  });

  test('the delivery queues have one task-queue partition each (their rate limit whole), the journeys queue 4', () => {
    type Values = Array<{ value: number; constraints?: { taskQueueName?: string } }>;
    const config = parse(readFileSync(DYNAMIC_CONFIG_FILE, 'utf8')) as Record<string, Values>;
    const partitions = (key: string, taskQueue: string) => {
      const values = config[key]!;
      return (values.find((v) => v.constraints?.taskQueueName === taskQueue) ?? values.find((v) => !v.constraints))!.value;
    };
    for (const key of ['matching.numTaskqueueReadPartitions', 'matching.numTaskqueueWritePartitions']) {
      for (const kind of DELIVERY_KINDS) assert.equal(partitions(key, deliveryTaskQueue(TASK_QUEUE_DEFAULT, kind)), 1, `${key} of ${kind}`);
      assert.equal(partitions(key, TASK_QUEUE_DEFAULT), 4, key);
    }
  });

  test('the same Temporal: one process per service, the shard count, the databases, the dynamic config file', () => {
    const native = parse(temporalServerConfig({ ports: portsFromBase(40_000), dynamicConfigFile: DYNAMIC_CONFIG_FILE })) as {
      persistence: { numHistoryShards: number; datastores: Record<string, { sql: { pluginName: string; databaseName: string; user: string } }> };
      services: Record<string, unknown>;
    };
    assert.equal(native.persistence.numHistoryShards, NUM_HISTORY_SHARDS);
    assert.deepEqual(Object.keys(native.services).sort(), [...TEMPORAL_SERVICES].sort());
    const stores = Object.values(native.persistence.datastores).map((d) => d.sql);
    assert.deepEqual(stores.map((s) => s.databaseName), [DB.temporal, DB.visibility]);
    for (const sql of stores) assert.equal(sql.pluginName, 'postgres12');

    for (const s of TEMPORAL_SERVICES) {
      const env = services[`temporal-${s}`]!.environment!;
      assert.equal(env.TEMPORAL_SERVICES, s, 'one service per container');
      assert.equal(env.NUM_HISTORY_SHARDS, String(NUM_HISTORY_SHARDS));
      assert.equal(env.DB, 'postgres12');
      assert.equal(env.POSTGRES_USER, DB.user);
      assert.equal(env.DBNAME, DB.temporal);
      assert.equal(env.VISIBILITY_DBNAME, DB.visibility);
      const mount = services[`temporal-${s}`]!.volumes!.find((v) => v.startsWith(relative(DYNAMIC_CONFIG_FILE)));
      assert.ok(mount, `${s} mounts ${relative(DYNAMIC_CONFIG_FILE)}`);
      assert.equal(mount.split(':')[1], env.DYNAMIC_CONFIG_FILE_PATH);
    }
    // The schema job creates the same three databases with the same tool and schema files.
    const schema = services['temporal-schema']!.command!.join('\n');
    assert.match(schema, /for pair in temporal:temporal temporal_visibility:visibility/);
    assert.match(schema, /schema=\/etc\/temporal\/schema\/postgresql\/v12/);
    assert.match(schema, new RegExp(`--db ${DB.ferretdb} create`));
  });

  test('the same search attributes (the ones the CoachingLive journey sets), namespace and retention', async () => {
    const env = services['temporal-admin-tools']!.environment!;
    const cliType = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList' } as const;
    const keys = journeySearchAttributeKeys((await coachingLive()).plan);
    assert.deepEqual(env.SEARCH_ATTRIBUTES!.split(' ').sort(), keys.map((k) => `${k.name}:${cliType[k.type]}`).sort());
    assert.equal(env.NAMESPACE, 'default');
    assert.equal(env.RETENTION, '7d');
    assert.match(readFileSync(join(PROJECT_ROOT, 'src/servers/cluster.ts'), 'utf8'), /workflowExecutionRetentionPeriod: msToTs\('7 days'\)/);
  });

  test('the same front: two workers, two APIs behind HAProxy with the one config file; the UI with the codec endpoint', () => {
    const apps = Object.entries(services).filter(([, s]) => s.build !== undefined);
    assert.deepEqual(apps.map(([n]) => n).sort(), ['api-1', 'api-2', 'worker-1', 'worker-2']);
    for (const [name, s] of apps) assert.match(s.command!.join(' '), name.startsWith('api') ? /src\/api\/main\.ts/ : /src\/worker\/main\.ts/);
    const haproxy = services.haproxy!;
    assert.ok(haproxy.volumes!.some((v) => v.startsWith(`${relative(HAPROXY_DIR)}:${haproxy.environment!.HAPROXY_DIR}`)), 'mounts deploy/haproxy where HAPROXY_DIR says');
    assert.deepEqual([haproxy.environment!.API_1, haproxy.environment!.API_2], ['api-1:3000', 'api-2:3000']);
    const cfg = readFileSync(join(HAPROXY_DIR, 'haproxy.cfg'), 'utf8');
    assert.match(cfg, /option httpchk GET \/readyz/);
    assert.match(readFileSync(join(HAPROXY_DIR, '503.http'), 'utf8'), /^HTTP\/1\.1 503 [^\n]*\r\n(?:[^\n]*\r\n)*Retry-After: \d+\r\n/);
    const ui = services['temporal-ui']!.environment!;
    assert.equal(ui.TEMPORAL_CODEC_ENDPOINT, 'http://localhost:3000/codec');
    assert.equal(ui.TEMPORAL_CODEC_INCLUDE_CREDENTIALS, 'true');
    assert.equal(ui.TEMPORAL_UI_PORT, '8233');
    const ferret = services.ferretdb!.environment!;
    assert.equal(ferret.FERRETDB_HANDLER, 'pg');
    assert.match(ferret.FERRETDB_POSTGRESQL_URL!, new RegExp(`/${DB.ferretdb}$`));
    assert.equal(services['api-1']!.environment!.MONGODB_URI, 'mongodb://ferretdb:27017/lifecycle');
  });
});
