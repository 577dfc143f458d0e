import { DynamicModule, Global, Module } from '@nestjs/common';

import { CATALOGSYNC_OPTIONS, CatalogSyncOptions, CatalogSyncPublisher } from './catalogsync.publisher';

/**
 *   @Module({ imports: [CatalogSyncModule.forRoot({ brokers: ['kafka:9092'] })] })
 *   export class AppModule {}
 *
 * then inject CatalogSyncPublisher anywhere.
 */
@Global()
@Module({})
export class CatalogSyncModule {
  static forRoot(options: CatalogSyncOptions): DynamicModule {
    return {
      module: CatalogSyncModule,
      providers: [{ provide: CATALOGSYNC_OPTIONS, useValue: options }, CatalogSyncPublisher],
      exports: [CatalogSyncPublisher],
    };
  }
}
