/**
 * CatalogSyncPublisher: a NestJS provider that publishes contract-v1 product
 * events to Kafka with kafkajs.
 *
 *   constructor(private readonly catalog: CatalogSyncPublisher) {}
 *   await this.catalog.productUpdated(snapshot);
 *   await this.catalog.productDeleted({ id, version, sku });
 *   await this.catalog.exportRequested(snapshot, { connections: [1, 2], fields: ['name', 'sku', 'price'] });
 *
 * Each call resolves once Kafka acknowledged the events (idempotent producer,
 * acks=all, one request in flight) and rejects with DeliveryError otherwise:
 * call it after your database transaction committed.  Messages are keyed "<tenant>:<product_id>"
 * with the headers type, schema and event_id, and partitioned like
 * librdkafka (catalogsync-publish), so every event of one product lands in one
 * partition whichever producer sent it.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit, Optional } from '@nestjs/common';
import { Kafka, KafkaConfig, logLevel, Partitioners, Producer, ProducerConfig } from 'kafkajs';

import {
  buildEvent,
  encodeEvent,
  EventOptions,
  eventHeaders,
  eventKey,
  EventType,
  ExportRequest,
  partitionFor,
  ProductEvent,
  ProductSnapshot,
  validateEvent,
} from './events';

export const CATALOGSYNC_OPTIONS = Symbol('CATALOGSYNC_OPTIONS');

export interface CatalogSyncOptions {
  /** Bootstrap servers, e.g. ["kafka:9092"] (kafka.brokers of the workers). */
  brokers: string[];
  /** kafka.topic of the workers (default catalog.product-events). */
  topic?: string;
  /** Tenant of events that do not name one (default "default"). */
  tenant?: string;
  clientId?: string;
  /** How long a publish waits for Kafka's acknowledgement (default 30000 ms). */
  deliveryTimeoutMs?: number;
  /** Extra kafkajs client settings: ssl, sasl, connectionTimeout, ... */
  kafka?: Partial<KafkaConfig>;
  /** Extra kafkajs producer settings. */
  producer?: Partial<ProducerConfig>;
}

export class DeliveryError extends Error {
  constructor(message: string, readonly events: ProductEvent[]) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** kafkajs partitioner equal to librdkafka's default (consistent_random). */
export const LibrdkafkaPartitioner = () => ({ partitionMetadata, message }: {
  partitionMetadata: { partitionId: number }[];
  message: { key?: Buffer | string | null };
}): number => {
  const n = partitionMetadata.length;
  if (message.key === null || message.key === undefined) {
    return partitionMetadata[Math.floor(Math.random() * n)].partitionId;
  }
  return partitionFor(message.key, n);
};

@Injectable()
export class CatalogSyncPublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('CatalogSyncPublisher');
  private readonly producer: Producer;
  private readonly topic: string;
  private readonly tenant: string;
  private readonly timeoutMs: number;
  private connected?: Promise<void>;

  constructor(@Optional() @Inject(CATALOGSYNC_OPTIONS) options?: CatalogSyncOptions) {
    const opts = options ?? { brokers: (process.env.CATALOGSYNC_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',') };
    this.topic = opts.topic ?? 'catalog.product-events';
    this.tenant = opts.tenant ?? 'default';
    this.timeoutMs = opts.deliveryTimeoutMs ?? 30000;
    const kafka = new Kafka({
      clientId: opts.clientId ?? 'catalogsync-nestjs',
      brokers: opts.brokers,
      logLevel: logLevel.ERROR,
      ...opts.kafka,
    });
    // An idempotent producer (as catalogsync-publish and the Django hook):
    // the broker stores a batch that a retry sends again only once, and with
    // one request in flight each partition stays in order across retries.
    // acks=all (-1) on every send, which kafkajs requires of it.
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: LibrdkafkaPartitioner as unknown as typeof Partitioners.DefaultPartitioner,
      ...opts.producer,
    });
  }

  /** True when the producer is idempotent (the default; producer: { idempotent: false } turns it off). */
  isIdempotent(): boolean {
    return this.producer.isIdempotent();
  }

  /** Connects in the background: an application starts even while Kafka is
   * down; a publish waits for the connection within its deadline. */
  onModuleInit(): void {
    this.connect().catch((err: Error) => this.log.warn(`Kafka not reachable yet: ${err.message}`));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.connected) {
      this.connected = undefined;
      await this.producer.disconnect();
    }
  }

  connect(): Promise<void> {
    if (!this.connected) {
      this.connected = this.producer.connect().catch((err) => {
        this.connected = undefined;
        throw err;
      });
    }
    return this.connected;
  }

  /** Builds an event with this provider's default tenant. */
  event(type: EventType | string, product: ProductSnapshot, opts: EventOptions = {}): ProductEvent {
    return buildEvent(type, product, { tenant: this.tenant, ...opts });
  }

  productCreated(product: ProductSnapshot, opts: EventOptions = {}): Promise<ProductEvent[]> {
    return this.publish([this.event('product.created', product, opts)]);
  }

  productUpdated(product: ProductSnapshot, opts: EventOptions = {}): Promise<ProductEvent[]> {
    return this.publish([this.event('product.updated', product, opts)]);
  }

  productDeleted(product: Pick<ProductSnapshot, 'id' | 'version' | 'sku'>, opts: EventOptions = {}): Promise<ProductEvent[]> {
    return this.publish([this.event('product.deleted', { ...product, sku: product.sku ?? null }, opts)]);
  }

  exportRequested(product: ProductSnapshot, request: ExportRequest, opts: EventOptions = {}): Promise<ProductEvent[]> {
    return this.publish([this.event('product.export_requested', product, { ...opts, export: request })]);
  }

  /** Publishes v1 events; resolves when Kafka acknowledged every one. */
  async publish(events: ProductEvent[]): Promise<ProductEvent[]> {
    if (events.length === 0) return events;
    for (const ev of events) validateEvent(ev);
    const messages = events.map((ev) => ({
      key: eventKey(ev),
      value: encodeEvent(ev),
      headers: eventHeaders(ev),
    }));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DeliveryError(`Kafka did not acknowledge ${events.length} events within ${this.timeoutMs} ms`, events)),
        this.timeoutMs,
      );
    });
    try {
      const send = async () => {
        await this.connect();
        await this.producer.send({ topic: this.topic, acks: -1, messages });
      };
      await Promise.race([send(), deadline]);
    } catch (err) {
      if (err instanceof DeliveryError) throw err;
      this.log.error(`delivery failed: ${(err as Error).message}`);
      throw new DeliveryError(`delivery failed: ${(err as Error).message}`, events);
    } finally {
      clearTimeout(timer);
    }
    return events;
  }
}
