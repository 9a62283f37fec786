// Compiled (not run) by test/types.test.mjs: the API as an application uses it.
import { ZerobusSdk, RecordType, ZerobusError, ErrorCode, IpcCompressionType, ArrowDataType, ZerobusArrowStream, type StreamConfigurationOptions, type ZerobusSdkOptions, type TableSchema, type ArrowStreamConfigurationOptions } from '../../index.js'
import { Schema, Field, LargeUtf8, Int32, RecordBatch, tableFromArrays, tableToIPC, vectorFromArray, Table } from 'apache-arrow'

async function main(): Promise<void> {
  const sdk = new ZerobusSdk('https://1234.zerobus.example.com', 'https://workspace.example.com')
  const sdkOptions: ZerobusSdkOptions = { applicationName: 'my-app', caCertificatesPem: ['-----BEGIN CERTIFICATE-----\n…', new Uint8Array()] }
  const privateSdk = new ZerobusSdk('https://1234.zerobus.example.com', 'https://workspace.example.com', sdkOptions)
  const options: StreamConfigurationOptions = {
    recordType: RecordType.Json,
    maxInflightRequests: 10_000,
    recoveryBackoffMs: 500,
    recoveryBackoffMaxMs: 10_000,
    ackCallback: (offset: bigint) => console.log('acked', offset + 1n),
    errorCallback: (offset: bigint, message: string) => console.error(offset, message),
  }
  await using stream = await sdk.createStream({ tableName: 'main.default.events' }, 'id', 'secret', options)
  const offset: bigint = await stream.ingestRecordOffset({ id: 1 })
  const batch: bigint | null = await stream.ingestRecordsOffset(['{"id":2}', { id: 3 }])
  await stream.ingestRecordNowait(new Uint8Array([8, 1]))
  await stream.waitForOffset(batch ?? offset)
  try {
    stream.tryIngestRecordOffset('{}')
  } catch (e) {
    if (e instanceof ZerobusError && e.code === ErrorCode.QUEUE_FULL && e.retryable) console.log(e.grpcStatus)
  }
  const unacked: Buffer[][] = await stream.getUnackedBatches()
  console.log(unacked.length, stream.metrics().lastAckedOffset, stream.isClosed)
  const pat = await sdk.createStream({ tableName: 'a.b.c', descriptorProto: 'CgNSZWM=' }, '', '', {}, {
    getHeaders: async () => [['authorization', 'Bearer x'], ['x-databricks-zerobus-table-name', 'a.b.c']] as Array<[string, string]>,
  })
  await pat.close()
  const failing = await privateSdk.createStream({ tableName: 'a.b.c' }, '', '', {}, () => {
    throw new ZerobusError('UNAUTHENTICATED', 'no credentials')
  })
  await failing.close()
  const schema: TableSchema = await sdk.getTableSchema('main.default.air_quality', 'id', 'secret')
  const columns: string[] = schema.columns.map((c) => `${c.position}: ${c.name} ${c.typeText}${c.nullable ? '' : ' NOT NULL'}`)
  console.log(columns, schema.descriptorProto?.length, schema.protoFile ?? schema.protoError)
  await using typed = await sdk.createStream({ tableName: 'main.default.air_quality' }, 'id', 'secret', { recordType: RecordType.Proto })
  const typedOffset: bigint | null = await typed.ingestRecordsOffset([
    { device_name: 'a', temp: 21, at: new Date(), tags: ['x'], loc: { lat: 1.5, lon: 2 }, big: 2n ** 60n, raw: Buffer.from('hi') },
    '{"device_name":"b"}',
  ])
  console.log(typedOffset, typed.tableSchema?.columns.length)

  const schema2 = new Schema([new Field('name', new LargeUtf8(), false), new Field('seats', new Int32(), true)])
  const arrowOptions: ArrowStreamConfigurationOptions = {
    maxInflightBatches: 100,
    ipcCompression: IpcCompressionType.Zstd,
    connectionTimeoutMs: 10_000,
    ackCallback: (offset: bigint) => console.log(offset),
  }
  await using cars: ZerobusArrowStream = await sdk.createArrowStream('main.default.cars', schema2, 'id', 'secret', arrowOptions)
  const table = new Table({ name: vectorFromArray(['a'], new LargeUtf8()), seats: vectorFromArray([4], new Int32()) })
  const o1: bigint = await cars.ingestBatch(table)
  const o2: bigint = await cars.ingestBatch(table.batches[0])
  const o3: bigint = await cars.ingestBatch(tableToIPC(table, 'stream'))
  const o4: bigint = await cars.ingestBatchNoCopy(table)
  await cars.waitForOffset(o4)
  await cars.waitForOffset(o1 > o2 ? o1 : o3)
  const again: RecordBatch[] = await cars.getUnackedBatches<RecordBatch>()
  const ipc: Buffer = await cars.getUnackedIpc()
  console.log(again.length, ipc.length, cars.schema.fields.length, cars.schemaIpc.length, cars.tableName, cars.isClosed, cars.metrics().recordsSent)
  const fromTable = await sdk.createArrowStream('main.default.cars', null, 'id', 'secret', { ipcCompression: 'lz4_frame' }, async () => [['authorization', 'Bearer x']] as Array<[string, string]>)
  await fromTable.ingestBatch(tableFromArrays({ seats: Int32Array.from([1]) }))
  await fromTable.close()
  const published = await sdk.createArrowStream(
    { tableName: 'main.default.cars', schemaFields: [{ name: 'name', dataType: ArrowDataType.LargeUtf8, nullable: false }] },
    'id',
    'secret',
    { maxInflightBatches: 10 },
  )
  await published.close()
}

void main()
