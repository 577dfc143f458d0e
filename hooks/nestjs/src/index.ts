export * from './events';
export * from './catalogsync.publisher';
export * from './catalogsync.module';
