import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { startLocalCloud } from './local/cloud';
import { localClientConfig } from './local/clients';
import { expectedWindowCounts, generateClicks } from './simulator/clicks';
import { putAll } from './simulator/producer';
import { windowCounts } from './test/support/local-cloud';
const dir = '/tmp/i7dbg/state-' + Date.now();
const cloud = await startLocalCloud({ edgePort: 0, dashboardPort: 0, stateDirectory: dir, assemblyDirectory: join(dir, 'cdk.out'), log: (l: string) => { if (!/Bundling|index\.js|Done in/.test(l)) console.error('LOG', l); } });
try {
  const kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
  const records = [...generateClicks({ count: 6000, rate: 1000, seed: 7, duplicates: 0.05, late: 0.02, malformed: 0.02, startTime: Date.now() })];
  const expected = expectedWindowCounts(records);
  const total = [...expected.values()].reduce((a, b) => a + b, 0);
  const t0 = Date.now();
  await putAll(kinesis, cloud.outputs.ClicksStreamName!, records, { rate: 20000 });
  console.log('put in', Date.now() - t0);
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 5000));
    const c = await windowCounts(cloud);
    const got = [...c.values()].reduce((a, b) => a + b, 0);
    console.log('t', (Date.now() - t0) / 1000, got, 'of', total, JSON.stringify(cloud.runtime.stats(cloud.stack.functions.find((f) => f.logicalId.includes('Aggregator'))!.functionName)));
    if (got >= total) break;
  }
} catch (e) { console.error(e); } finally {
  for (const f of readdirSync(join(dir, 'logs'))) { if (!f.includes('Aggreg')) continue; const t = readFileSync(join(dir, 'logs', f), 'utf8'); console.log('== log lines', t.split('\n').length); console.log(t.split('\n').filter((l) => /error|Error|WARN|warn/.test(l)).slice(0, 10).join('\n')); }
  await cloud.stop();
}
