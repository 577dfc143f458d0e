#!/usr/bin/env node
/**
 * catalogsync-nest-publish: publishes products through CatalogSyncPublisher
 * inside a Nest application context (the provider as an application gets it).
 *
 *   node dist/cli.js --brokers 127.0.0.1:9092 < requests.jsonl
 *
 * Input: one JSON object per line:
 *   {"type": "updated", "product": {...}, "tenant": "...", "actor": "...",
 *    "changed_fields": [...], "delete_mode": "soft", "export": {"connections": [1]}}
 * Output: one line "EVENT <event_id> <key> <type>" per acknowledged event, then
 * "N published, N rejected, N failed".
 * Exit status: 0 all published; 1 some lines rejected (the rest published);
 * 2 Kafka did not acknowledge; 64 bad usage.
 */
import 'reflect-metadata';
import { readFileSync } from 'fs';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { CatalogSyncModule } from './catalogsync.module';
import { CatalogSyncPublisher, DeliveryError } from './catalogsync.publisher';
import { EventError, ProductEvent } from './events';

function usage(code: number): never {
  (code ? process.stderr : process.stdout).write(
    'Usage: catalogsync-nest-publish [--brokers LIST] [--topic NAME] [--tenant NAME] [--timeout MS] [FILE]\n' +
      'Publishes JSON lines {"type", "product", ...} from FILE or stdin as v1 events.\n' +
      'Brokers default to $CATALOGSYNC_KAFKA_BROKERS, else 127.0.0.1:9092; --timeout: how long\n' +
      'to wait for Kafka\'s acknowledgement (default 30000 ms).\n',
  );
  process.exit(code);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let brokers = process.env.CATALOGSYNC_KAFKA_BROKERS ?? '127.0.0.1:9092';
  let topic = process.env.CATALOGSYNC_KAFKA_TOPIC ?? 'catalog.product-events';
  let tenant = 'default';
  let timeoutMs = 30000;
  let file = '/dev/stdin';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-h' || a === '--help') usage(0);
    else if (a === '--brokers' && args[i + 1]) brokers = args[++i];
    else if (a === '--topic' && args[i + 1]) topic = args[++i];
    else if (a === '--tenant' && args[i + 1]) tenant = args[++i];
    else if (a === '--timeout' && args[i + 1]) timeoutMs = Number(args[++i]);
    else if (!a.startsWith('-')) file = a;
    else usage(64);
  }

  @Module({ imports: [CatalogSyncModule.forRoot({ brokers: brokers.split(','), topic, tenant, deliveryTimeoutMs: timeoutMs })] })
  class CliModule {}

  const lines = readFileSync(file, 'utf8').split('\n');
  const app = await NestFactory.createApplicationContext(CliModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  const publisher = app.get(CatalogSyncPublisher);
  const events: ProductEvent[] = [];
  let rejected = 0;
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const req = JSON.parse(line);
      events.push(
        publisher.event(req.type ?? 'updated', req.product, {
          tenant: req.tenant,
          actor: req.actor,
          changedFields: req.changed_fields,
          deleteMode: req.delete_mode,
          export: req.export,
        }),
      );
    } catch (err) {
      rejected++;
      const what = err instanceof EventError || err instanceof SyntaxError ? err.message : String(err);
      process.stderr.write(`${file}:${i + 1}: rejected: ${what}\n`);
    }
  });
  let failed = 0;
  try {
    await publisher.publish(events);
    for (const ev of events) process.stdout.write(`EVENT ${ev.event_id} ${ev.tenant}:${ev.product.id} ${ev.type}\n`);
  } catch (err) {
    failed = events.length;
    process.stderr.write(`catalogsync-nest-publish: ${(err as Error).message}\n`);
    if (!(err instanceof DeliveryError)) throw err;
  } finally {
    await app.close();
  }
  process.stdout.write(`${events.length - failed} published, ${rejected} rejected, ${failed} failed\n`);
  return failed ? 2 : rejected ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`catalogsync-nest-publish: ${(err as Error).stack ?? err}\n`);
    process.exit(2);
  },
);
