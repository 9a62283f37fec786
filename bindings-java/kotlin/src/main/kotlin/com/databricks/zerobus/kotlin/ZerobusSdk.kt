package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiSdk

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
 */
class ZerobusSdk(endpoint: String, unityCatalogUrl: String) : AutoCloseable {
    private val ffi: FfiSdk

    init {
        NativeLoader.load()
        ffi = ffiCall { FfiSdk(endpoint, unityCatalogUrl) }
    }

    /** The `user-agent` this SDK sends. */
    val userAgent: String get() = ffiCall { ffi.userAgent() }

    /** Opens a stream authenticated with OAuth client credentials (a service principal). */
    suspend fun createStream(
        table: TableProperties,
        clientId: String,
        clientSecret: String,
        options: StreamConfigurationOptions = StreamConfigurationOptions(),
    ): ZerobusStream {
        val opts = options.toFfi()
        val ack = options.ackCallback?.let(::AckBridge)
        val stream = ffiCall { ffi.createStream(table.tableName, table.descriptorProto, clientId, clientSecret, opts, ack) }
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
        val stream = ffiCall {
            ffi.createStreamWithHeadersProvider(table.tableName, table.descriptorProto, HeadersBridge(headersProvider), opts, ack)
        }
        return ZerobusStream(stream, options.ackCallback)
    }

    /** Releases the native SDK handle; streams already created keep working. */
    override fun close() {
        ffi.close()
    }
}
