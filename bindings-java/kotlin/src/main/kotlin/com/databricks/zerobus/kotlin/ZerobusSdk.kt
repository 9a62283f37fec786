package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiSdk
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Entry point: one per Zerobus endpoint, shared by every stream it creates.
 *
 * ```kotlin
 * ZerobusSdk(endpoint, workspaceUrl).use { sdk ->
 *     sdk.createStream("main.default.events", clientId, clientSecret,
 *                      StreamConfigurationOptions(recordType = RecordType.JSON)).use { stream ->
 *         val offset = stream.ingestRecordOffset("""{"id": 1}""")
 *         stream.waitForOffset(offset)
 *     }
 * }
 * ```
 *
 * @param endpoint `https://<workspace-id>.zerobus.<region>.cloud.databricks.com` (`http://` for a local server)
 * @param unityCatalogUrl the workspace URL; its `/oidc/v1/token` issues OAuth tokens
 * @param caPem CA certificates (PEM text) to trust besides the system roots
 * @param applicationName appended to the `user-agent`
 */
class ZerobusSdk @JvmOverloads constructor(
    endpoint: String,
    unityCatalogUrl: String,
    caPem: String? = null,
    applicationName: String? = null,
) : AutoCloseable {
    private val ffi: FfiSdk
    private val closed = AtomicBoolean(false)

    init {
        NativeLoader.load()
        ffi = ffiCall { FfiSdk(endpoint, unityCatalogUrl, caPem, applicationName) }
    }

    /** The `user-agent` this SDK sends. */
    val userAgent: String get() = call { ffi.userAgent() }

    /** An FFI call on the SDK: [ZerobusException.InvalidArgument] once [close] released it. */
    private inline fun <T> call(block: () -> T): T = ffiCallOn(closed, "ZerobusSdk (closed)", block)

    /**
     * Opens a stream authenticated with OAuth client credentials (a service principal).
     *
     * A PROTO stream (the default record type here) whose [table] has no descriptor is created
     * **from the table**: the core reads the table's schema from Unity Catalog with the same
     * credentials, opens the stream with the descriptor derived from it ([ZerobusStream.tableSchema]),
     * and encodes the JSON text and `Map` records given to the stream by the columns' types.
     */
    suspend fun createStream(
        table: TableProperties,
        clientId: String,
        clientSecret: String,
        options: StreamConfigurationOptions = StreamConfigurationOptions(),
    ): ZerobusStream {
        val opts = options.toFfi()
        val ack = options.ackCallback?.let(::AckBridge)
        val stream = call { ffi.createStream(table.tableName, table.descriptorProto, clientId, clientSecret, opts, ack) }
        return ZerobusStream(stream, options.ackCallback)
    }

    /** Opens a JSON stream (or a stream of `options.recordType`) on [table] with OAuth credentials. */
    suspend fun createStream(
        table: String,
        clientId: String,
        clientSecret: String,
        options: StreamConfigurationOptions = StreamConfigurationOptions(recordType = RecordType.JSON),
    ): ZerobusStream = createStream(TableProperties(table), clientId, clientSecret, options)

    /** Opens a stream whose call metadata comes from [headersProvider], asked on every connect. */
    suspend fun createStream(
        table: TableProperties,
        headersProvider: HeadersProvider,
        options: StreamConfigurationOptions = StreamConfigurationOptions(),
    ): ZerobusStream {
        val opts = options.toFfi()
        val ack = options.ackCallback?.let(::AckBridge)
        val stream = call {
            ffi.createStreamWithHeadersProvider(table.tableName, table.descriptorProto, HeadersBridge(headersProvider), opts, ack)
        }
        return ZerobusStream(stream, options.ackCallback)
    }

    /**
     * Opens an Arrow stream (Arrow Flight) on [tableName] authenticated with OAuth client
     * credentials. [schemaIpc] is the batches' schema as an Arrow IPC stream (its schema message;
     * batches after it are ignored), e.g. what Arrow Java's `ArrowStreamWriter` writes after
     * `start()`; `null` reads the schema from the table (STRING → `LargeUtf8`, INT → `Int32`, …;
     * [ArrowStream.schemaIpc] returns it). A schema that is not Arrow IPC fails with
     * [ZerobusException.InvalidArgument].
     */
    suspend fun createArrowStream(
        tableName: String,
        schemaIpc: ByteArray?,
        clientId: String,
        clientSecret: String,
        options: ArrowStreamConfigurationOptions = ArrowStreamConfigurationOptions(),
    ): ArrowStream {
        val opts = options.toFfi()
        val ack = options.ackCallback?.let(::AckBridge)
        val stream = call { ffi.createArrowStream(tableName, schemaIpc, clientId, clientSecret, opts, ack) }
        return ArrowStream(stream, options.ackCallback)
    }

    /** [createArrowStream] whose call metadata comes from [headersProvider], asked on every connect. */
    suspend fun createArrowStream(
        tableName: String,
        schemaIpc: ByteArray?,
        headersProvider: HeadersProvider,
        options: ArrowStreamConfigurationOptions = ArrowStreamConfigurationOptions(),
    ): ArrowStream {
        val opts = options.toFfi()
        val ack = options.ackCallback?.let(::AckBridge)
        val stream = call {
            ffi.createArrowStreamWithHeadersProvider(tableName, schemaIpc, HeadersBridge(headersProvider), opts, ack)
        }
        return ArrowStream(stream, options.ackCallback)
    }

    /**
     * Opens a new Arrow stream on [old]'s table with its schema, credentials and options (its ack
     * callback included) and queues [old]'s unacknowledged rows on it, in order, before it
     * returns. [old] must be closed or failed ([ZerobusException.InvalidArgument] otherwise).
     */
    suspend fun recreateArrowStream(old: ArrowStream): ArrowStream =
        ArrowStream(call { ffi.recreateArrowStream(old.ffi) }, old.callback)

    /**
     * Reads [table]'s schema from Unity Catalog (`GET {unityCatalogUrl}/api/2.1/unity-catalog/tables/{table}`)
     * with OAuth client credentials, the token a stream on the table uses. Fails with
     * [ZerobusException.NotFound] for an unknown table, [ZerobusException.Unauthenticated] /
     * [ZerobusException.PermissionDenied] when the credentials do not reach it.
     */
    suspend fun getTableSchema(table: String, clientId: String, clientSecret: String): TableSchema =
        TableSchema(call { ffi.getTableSchema(table, clientId, clientSecret) })

    /** [getTableSchema] authenticated by the `authorization` header [headersProvider] returns. */
    suspend fun getTableSchema(table: String, headersProvider: HeadersProvider): TableSchema =
        TableSchema(call { ffi.getTableSchemaWithHeadersProvider(table, HeadersBridge(headersProvider)) })

    /**
     * Releases the native SDK handle (idempotent); streams already created keep working. Later
     * calls on this SDK fail with [ZerobusException.InvalidArgument].
     */
    override fun close() {
        closed.set(true)
        ffi.close()
    }
}
