/**
 * Product events, contract v1 (docs/EVENTS.md): types, a builder that fills in
 * schema, event_id and occurred_at, a validator with the workers' rules
 * (common/cs_event.c), the message key and headers, and librdkafka's default
 * partitioner so that a key lands in the same partition as when
 * catalogsync-publish or another librdkafka producer sends it.
 */
import { randomUUID } from 'crypto';

export const SCHEMA = 1;
export const DEFAULT_TENANT = 'default';
/** events.max_bytes of the workers: larger events are dead-lettered. */
export const MAX_BYTES = 1024 * 1024;

export const EVENT_TYPES = [
  'product.created',
  'product.updated',
  'product.attributes_updated',
  'product.assets_updated',
  'product.deleted',
  'product.export_requested',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Money is a decimal string, never a JS number: {"amount": "12.50", "currency": "USD"}. */
export interface Money {
  amount: string;
  currency: string;
}

export interface Attribute {
  name: string;
  value: string | null;
}

export interface ProductSnapshot {
  id: string;
  /** Strictly increasing per product: a row version, or updated-at in ms. */
  version: number;
  sku?: string | null;
  name?: string | null;
  description?: string | null;
  brand?: string | null;
  condition?: string | null;
  link?: string | null;
  price?: Money | null;
  sale_price?: Money | null;
  stock_quantity?: number | null;
  is_active?: boolean | null;
  images?: string[];
  categories?: string[];
  attributes?: Attribute[];
}

export interface ExportRequest {
  connections: number[];
  fields?: string[];
  partial_update?: boolean;
}

export interface ProductEvent {
  schema: 1;
  event_id: string;
  type: EventType;
  tenant: string;
  occurred_at: string;
  product: ProductSnapshot;
  actor?: string;
  changed_fields?: string[];
  delete_mode?: 'soft' | 'permanent';
  export?: ExportRequest;
}

export interface EventOptions {
  tenant?: string;
  actor?: string;
  changedFields?: string[];
  deleteMode?: 'soft' | 'permanent';
  export?: ExportRequest;
  eventId?: string;
  occurredAt?: string;
}

/** An event that breaks the contract: "<field>: <problem>", as the workers say it. */
export class EventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventError';
  }
}

const DECIMAL = /^[0-9]{1,15}(\.[0-9]{1,6})?$/;
const CURRENCY = /^[A-Z]{3}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** {"amount", "currency"} from a decimal string (or a bigint of whole units). */
export function money(amount: string | bigint | null | undefined, currency: string): Money | null {
  if (amount === null || amount === undefined) return null;
  const text = typeof amount === 'bigint' ? amount.toString() : amount;
  if (!DECIMAL.test(text)) throw new EventError(`money: "${text}" is not a decimal string such as "12.50"`);
  return { amount: text, currency };
}

/** A strictly increasing version close to the time of the change (ms). */
export function nextVersion(current?: number | null): number {
  return Math.max((current ?? 0) + 1, Date.now());
}

export function buildEvent(type: EventType | string, product: ProductSnapshot, opts: EventOptions = {}): ProductEvent {
  const t = (type.startsWith('product.') ? type : `product.${type}`) as EventType;
  const ev: ProductEvent = {
    schema: SCHEMA,
    event_id: opts.eventId ?? randomUUID(),
    type: t,
    tenant: opts.tenant ?? DEFAULT_TENANT,
    occurred_at: opts.occurredAt ?? new Date().toISOString(),
    product,
  };
  if (opts.actor) ev.actor = opts.actor;
  if (opts.changedFields && opts.changedFields.length) ev.changed_fields = [...opts.changedFields];
  if (t === 'product.deleted') {
    ev.delete_mode = opts.deleteMode ?? 'soft';
    ev.product = { id: product.id, version: product.version, sku: product.sku ?? null };
  }
  if (t === 'product.export_requested') {
    const x = opts.export ?? { connections: [] };
    ev.export = { connections: [...x.connections], partial_update: x.partial_update ?? false };
    if (x.fields) ev.export.fields = [...x.fields];
  }
  validateEvent(ev);
  return ev;
}

export function eventKey(ev: ProductEvent): string {
  return `${ev.tenant ?? DEFAULT_TENANT}:${ev.product.id}`;
}

export function eventHeaders(ev: ProductEvent): Record<string, string> {
  return { type: ev.type, schema: String(ev.schema), event_id: ev.event_id };
}

export function encodeEvent(ev: ProductEvent): Buffer {
  const data = Buffer.from(JSON.stringify(ev), 'utf8');
  if (data.length > MAX_BYTES) throw new EventError(`event: payload is ${data.length} bytes, over the ${MAX_BYTES}-byte cap`);
  return data;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function str(o: Obj, k: string, path: string, required = false, maxlen = 0): void {
  const v = o[k];
  if (v === undefined || v === null) {
    if (required) throw new EventError(`${path}: ${v === null ? 'must not be null' : 'is missing'}`);
    return;
  }
  if (typeof v !== 'string') throw new EventError(`${path}: must be a string${required ? '' : ' or null'}, got ${typeof v}`);
  if (required && v.length === 0) throw new EventError(`${path}: must not be empty`);
  if (maxlen && bytes(v) > maxlen) throw new EventError(`${path}: is longer than ${maxlen} bytes`);
  if (v.includes('\0')) throw new EventError(`${path}: must not contain NUL characters`);
}

function strList(o: Obj, k: string, path: string): void {
  const v = o[k];
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) throw new EventError(`${path}: must be an array of strings`);
  v.forEach((e, i) => {
    if (typeof e !== 'string' || e.length === 0) throw new EventError(`${path}[${i}]: must be a non-empty string`);
  });
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function moneyField(p: Obj, k: string): void {
  const v = p[k];
  const path = `product.${k}`;
  if (v === undefined || v === null) return;
  if (!isObj(v)) throw new EventError(`${path}: must be an object {"amount":"12.34","currency":"USD"}`);
  if (typeof v.amount !== 'string') {
    throw new EventError(`${path}.amount: must be a decimal string such as "189.99", got ${typeof v.amount} (money is never sent as a JSON number)`);
  }
  if (!DECIMAL.test(v.amount)) throw new EventError(`${path}.amount: is not a decimal string ("${v.amount}")`);
  if (typeof v.currency !== 'string' || !CURRENCY.test(v.currency)) {
    throw new EventError(`${path}.currency: must be a three-letter upper-case ISO 4217 code`);
  }
}

/** Throws EventError unless ev is a valid v1 event. */
export function validateEvent(ev: unknown): asserts ev is ProductEvent {
  if (!isObj(ev)) throw new EventError('event: must be a JSON object');
  if (ev.schema !== SCHEMA) throw new EventError('schema: must be 1');
  str(ev, 'event_id', 'event_id', true, 128);
  if (!EVENT_TYPES.includes(ev.type as EventType)) throw new EventError(`type: unknown event type "${String(ev.type)}"`);
  if (ev.tenant !== undefined) {
    str(ev, 'tenant', 'tenant', true, 64);
    if ((ev.tenant as string).includes(':')) throw new EventError("tenant: must not contain ':'");
  }
  str(ev, 'occurred_at', 'occurred_at', true, 64);
  if (!RFC3339.test(ev.occurred_at as string)) throw new EventError('occurred_at: is not an RFC 3339 date-time');
  str(ev, 'actor', 'actor', false, 255);
  strList(ev, 'changed_fields', 'changed_fields');
  const p = ev.product;
  if (!isObj(p)) throw new EventError('product: must be an object');
  str(p, 'id', 'product.id', true, 255);
  if (!isInt(p.version) || p.version < 0) throw new EventError('product.version: must be a non-negative integer');
  if (ev.type === 'product.deleted' && !('sku' in p)) {
    throw new EventError('product.sku: is missing (product.deleted needs id, version and sku)');
  }
  str(p, 'sku', 'product.sku', false, 255);
  for (const k of ['name', 'description', 'brand', 'link']) str(p, k, `product.${k}`);
  str(p, 'condition', 'product.condition', false, 64);
  moneyField(p, 'price');
  moneyField(p, 'sale_price');
  if (p.stock_quantity !== undefined && p.stock_quantity !== null && !isInt(p.stock_quantity)) {
    throw new EventError('product.stock_quantity: must be an integer or null');
  }
  if (p.is_active !== undefined && p.is_active !== null && typeof p.is_active !== 'boolean') {
    throw new EventError('product.is_active: must be a boolean');
  }
  strList(p, 'images', 'product.images');
  strList(p, 'categories', 'product.categories');
  if (p.attributes !== undefined && p.attributes !== null) {
    if (!Array.isArray(p.attributes)) throw new EventError('product.attributes: must be an array');
    p.attributes.forEach((a: unknown, i: number) => {
      if (!isObj(a)) throw new EventError(`product.attributes[${i}]: must be an object`);
      str(a, 'name', `product.attributes[${i}].name`, true, 255);
      str(a, 'value', `product.attributes[${i}].value`);
    });
  }
  if (ev.type === 'product.deleted') {
    if (ev.delete_mode !== undefined && ev.delete_mode !== 'soft' && ev.delete_mode !== 'permanent') {
      throw new EventError('delete_mode: must be "soft" or "permanent"');
    }
  } else if (ev.delete_mode !== undefined && ev.delete_mode !== null) {
    throw new EventError('delete_mode: is only allowed on product.deleted');
  }
  const x = ev.export;
  if (ev.type === 'product.export_requested') {
    if (!isObj(x)) throw new EventError('export: is missing (product.export_requested names the connections)');
    if (!Array.isArray(x.connections) || x.connections.length === 0) {
      throw new EventError('export.connections: must name at least one connection');
    }
    x.connections.forEach((c: unknown, i: number) => {
      if (!isInt(c) || c < 1) throw new EventError(`export.connections[${i}]: must be a positive connection id`);
    });
    strList(x, 'fields', 'export.fields');
    if (x.partial_update !== undefined && x.partial_update !== null && typeof x.partial_update !== 'boolean') {
      throw new EventError('export.partial_update: must be a boolean');
    }
  } else if (x !== undefined && x !== null) {
    throw new EventError('export: is only allowed on product.export_requested');
  }
  encodeEvent(ev as unknown as ProductEvent);
}

/* CRC-32 (IEEE 802.3, as zlib and librdkafka's rd_crc32). */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** librdkafka's default partitioner (consistent_random) for a keyed message. */
export function partitionFor(key: string | Buffer, partitionCount: number): number {
  const buf = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  return crc32(buf) % partitionCount;
}
