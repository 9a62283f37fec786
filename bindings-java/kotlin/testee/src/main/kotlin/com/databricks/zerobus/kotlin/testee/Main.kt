// Conformance testee for the Kotlin API (conformance/TESTEE.md): one request per stdin line, one
// response per stdout line, no logic beyond mapping requests to public API calls. Mirrors
// conformance/testees/rust/src/main.rs.
package com.databricks.zerobus.kotlin.testee

import com.databricks.zerobus.kotlin.AckCallback
import com.databricks.zerobus.kotlin.ArrowStream
import com.databricks.zerobus.kotlin.ArrowStreamConfigurationOptions
import com.databricks.zerobus.kotlin.IpcCompression
import com.databricks.zerobus.kotlin.StreamMetrics
import com.databricks.zerobus.kotlin.ingestBatch
import com.databricks.zerobus.kotlin.HeadersProvider
import com.databricks.zerobus.kotlin.RecordType
import com.databricks.zerobus.kotlin.StreamConfigurationOptions
import com.databricks.zerobus.kotlin.TableProperties
import com.databricks.zerobus.kotlin.ZerobusException
import com.databricks.zerobus.kotlin.ZerobusSdk
import com.databricks.zerobus.kotlin.ZerobusStream
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.contentOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.longOrNull
import kotlinx.serialization.json.put
import com.databricks.zerobus.kotlin.ErrorCode
import org.apache.arrow.memory.RootAllocator
import org.apache.arrow.vector.ipc.ArrowStreamReader
import java.io.ByteArrayInputStream
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong

/** Records every callback, and counts those that run after the `close` op's close() returned. */
private class Recorded : AckCallback {
    val acks = ArrayList<Long>()
    val errors = ArrayList<Long>()
    val closeReturned = AtomicBoolean(false)
    val late = AtomicLong()

    private fun note() {
        if (closeReturned.get()) late.incrementAndGet()
    }

    override fun onAck(offset: Long) {
        note()
        synchronized(this) { acks.add(offset) }
    }

    override fun onError(offset: Long, message: String) {
        note()
        synchronized(this) { errors.add(offset) }
    }
}

/** Returns [fixed], or with [fail] (code, message) throws that error on every call. */
private class FixedHeaders(
    private val fixed: List<Pair<String, String>>,
    private val fail: Pair<ErrorCode, String>?,
) : HeadersProvider {
    val calls = AtomicLong()

    override fun getHeaders(): List<Pair<String, String>> {
        calls.incrementAndGet()
        if (fail != null) throw ZerobusException.of(fail.first, fail.second, null, false)
        return fixed
    }
}

private fun bad(message: String) = ZerobusException.InvalidArgument(message)

private fun JsonObject.str(key: String): String = (this[key] as? JsonPrimitive)?.contentOrNull ?: ""

private fun JsonObject.long(key: String): Long? = (this[key] as? JsonPrimitive)?.longOrNull

private fun JsonObject.bool(key: String): Boolean? = (this[key] as? JsonPrimitive)?.booleanOrNull

private fun hex(b: ByteArray): String = b.joinToString("") { "%02x".format(it) }

private fun unhex(s: String): ByteArray {
    if (s.length % 2 != 0) throw bad("odd-length hex")
    return ByteArray(s.length / 2) { i ->
        val hi = Character.digit(s[2 * i], 16)
        val lo = Character.digit(s[2 * i + 1], 16)
        if (hi < 0 || lo < 0) throw bad("bad hex digit in $s")
        (hi * 16 + lo).toByte()
    }
}

/**
 * A parsed JSON value as Kotlin's native objects: objects as `Map<String, Any?>` (in key order),
 * arrays as lists, integers as `Long` (`BigInteger` past its range), other numbers as `Double`.
 */
private fun native(e: JsonElement): Any? = when (e) {
    is JsonNull -> null
    is JsonObject -> e.mapValuesTo(LinkedHashMap()) { native(it.value) }
    is JsonArray -> e.map { native(it) }
    is JsonPrimitive -> when {
        e.isString -> e.content
        e.booleanOrNull != null -> e.booleanOrNull
        e.content.all { it.isDigit() || it == '-' } -> e.content.toLongOrNull() ?: java.math.BigInteger(e.content)
        else -> e.content.toDouble()
    }
}

private fun offsets(list: List<Long?>): JsonArray = JsonArray(list.map { if (it == null) JsonNull else JsonPrimitive(it) })

private class Testee {
    var stream: ZerobusStream? = null
    var arrow: ArrowStream? = null
    /** Whether the stream created last is [arrow]: the shared stream ops act on that one. */
    var arrowLast = false
    val callbacks = Recorded()
    var headers: FixedHeaders? = null
    /** Arrow Java's memory for the `native` form's decoded batches. */
    val allocator by lazy { RootAllocator() }

    fun stream(): ZerobusStream = stream ?: throw bad("no stream was created")

    fun arrow(): ArrowStream = arrow ?: throw bad("no Arrow stream was created")

    suspend fun handle(req: JsonObject): JsonObject = when (val op = req.str("op")) {
        "create_stream" -> create(req)
        "ingest" -> result { put("offsets", offsets(produce(stream(), req, req.long("seed") ?: 1))) }
        "ingest_concurrent" -> ingestConcurrent(req)
        "ingest_empty_batch" -> result { put("offsets", offsets(listOf(stream().ingestRecordsOffset(emptyList<ByteArray>())))) }
        "ingest_raw" -> ingestRaw(req)
        "table_schema" -> tableSchema(req)
        "create_arrow_stream" -> createArrow(req)
        "ingest_arrow" -> ingestArrow(req)
        "arrow_unacked" -> result { put("ipc_hex", hex(arrow().getUnackedIpc())) }
        "wait_for_offset" -> {
            val offset = req.long("offset") ?: -1
            if (arrowLast) arrow().waitForOffset(offset) else stream().waitForOffset(offset)
            result {}
        }
        "flush" -> {
            if (arrowLast) arrow().flush() else stream().flush()
            result {}
        }
        "close" -> {
            val a = if (arrowLast) arrow() else null
            val s = if (arrowLast) null else stream()
            try {
                a?.close()
                s?.close()
            } finally {
                callbacks.closeReturned.set(true)
            }
            result {}
        }
        "is_closed" -> result { put("closed", if (arrowLast) arrow().isClosed else stream().isClosed) }
        "unacked" -> {
            val s = stream()
            val proto = s.recordType == RecordType.PROTO
            val batches = s.unackedBatches().map { b ->
                JsonArray(b.map { r -> JsonPrimitive(if (proto) hex(r) else String(r, Charsets.UTF_8)) })
            }
            result { put("batches", JsonArray(batches)) }
        }
        "metrics" -> {
            val m: StreamMetrics = if (arrowLast) arrow().metrics() else stream().metrics()
            result {
                put(
                    "metrics",
                    buildJsonObject {
                        put("inflight_requests", m.inflightRequests)
                        put("inflight_records", m.inflightRecords)
                        put("inflight_bytes", m.inflightBytes)
                        put("last_acked_offset", m.lastAckedOffset)
                        put("records_sent", m.recordsSent)
                        put("records_resent", m.recordsResent)
                        put("recoveries", m.recoveries)
                        put("token_fetches", m.tokenFetches)
                    },
                )
            }
        }
        "callbacks" -> synchronized(callbacks) {
            result {
                put("acks", JsonArray(callbacks.acks.map { JsonPrimitive(it) }))
                put("errors", JsonArray(callbacks.errors.map { JsonPrimitive(it) }))
                put("late", callbacks.late.get())
            }
        }
        "headers_provider_calls" -> result { put("count", headers?.calls?.get() ?: 0L) }
        else -> throw bad("unknown op \"$op\"")
    }

    fun sdk(req: JsonObject) = ZerobusSdk(
        req.str("endpoint"),
        req.str("workspace_url"),
        caPem = (req["ca_pem"] as? JsonPrimitive)?.contentOrNull,
        applicationName = (req["application_name"] as? JsonPrimitive)?.contentOrNull,
    )

    /** The `headers` auth's provider (installed as [headers], counting its calls). */
    fun headersProvider(auth: JsonObject): FixedHeaders {
        val list = (auth["headers"] as? JsonArray ?: JsonArray(emptyList())).map { h ->
            val pair = h.jsonArray
            pair[0].jsonPrimitive.content to pair[1].jsonPrimitive.content
        }
        val fail = (auth["fail"] as? JsonObject)?.let { ErrorCode.fromName(it.str("code")) to it.str("message") }
        return FixedHeaders(list, fail).also { headers = it }
    }

    suspend fun create(req: JsonObject): JsonObject {
        val sdk = sdk(req)
        val o = req["options"] as? JsonObject ?: JsonObject(emptyMap())
        val proto = req.str("record_type") == "proto"
        val options = StreamConfigurationOptions(
            recordType = if (proto) RecordType.PROTO else RecordType.JSON,
            maxInflightRequests = o.long("max_inflight_requests"),
            maxInflightBytes = o.long("max_inflight_bytes"),
            recovery = o.bool("recovery"),
            recoveryTimeoutMs = o.long("recovery_timeout_ms"),
            recoveryBackoffMs = o.long("recovery_backoff_ms"),
            recoveryBackoffMaxMs = o.long("recovery_backoff_max_ms"),
            recoveryRetries = o.long("recovery_retries")?.toInt(),
            serverLackOfAckTimeoutMs = o.long("server_lack_of_ack_timeout_ms"),
            flushTimeoutMs = o.long("flush_timeout_ms"),
            streamPausedMaxWaitTimeMs = o.long("stream_paused_max_wait_time_ms"),
            callbackMaxWaitTimeMs = o.long("callback_max_wait_time_ms"),
            ackCallback = if (o.bool("ack_callback") == true) callbacks else null,
        )
        // A PROTO stream without a descriptor is created from the table (its schema read by the SDK).
        val descriptor = (req["descriptor_hex"] as? JsonPrimitive)?.contentOrNull
        val table = TableProperties(req.str("table"), if (proto && descriptor != null) unhex(descriptor) else null)
        val auth = req["auth"] as? JsonObject ?: JsonObject(emptyMap())
        stream = if (auth.str("kind") == "headers") {
            sdk.createStream(table, headersProvider(auth), options)
        } else {
            sdk.createStream(table, auth.str("client_id"), auth.str("client_secret"), options)
        }
        arrowLast = false
        return result {}
    }

    suspend fun createArrow(req: JsonObject): JsonObject {
        val sdk = sdk(req)
        val o = req["options"] as? JsonObject ?: JsonObject(emptyMap())
        val compression = (o["ipc_compression"] as? JsonPrimitive)?.contentOrNull?.let { name ->
            IpcCompression.entries.firstOrNull { it.name.equals(name, ignoreCase = true) }
                ?: throw bad("ipc_compression \"$name\" is none of none, lz4_frame, zstd")
        }
        val options = ArrowStreamConfigurationOptions(
            maxInflightBatches = o.long("max_inflight_batches"),
            maxInflightBytes = o.long("max_inflight_bytes"),
            recovery = o.bool("recovery"),
            recoveryTimeoutMs = o.long("recovery_timeout_ms"),
            recoveryBackoffMs = o.long("recovery_backoff_ms"),
            recoveryBackoffMaxMs = o.long("recovery_backoff_max_ms"),
            recoveryRetries = o.long("recovery_retries")?.toInt(),
            serverLackOfAckTimeoutMs = o.long("server_lack_of_ack_timeout_ms"),
            flushTimeoutMs = o.long("flush_timeout_ms"),
            connectionTimeoutMs = o.long("connection_timeout_ms"),
            ipcCompression = compression,
            streamPausedMaxWaitTimeMs = o.long("stream_paused_max_wait_time_ms"),
            callbackMaxWaitTimeMs = o.long("callback_max_wait_time_ms"),
            ackCallback = if (o.bool("ack_callback") == true) callbacks else null,
        )
        // No schema_hex: the schema comes from the table (a null schema).
        val schema = (req["schema_hex"] as? JsonPrimitive)?.contentOrNull?.let(::unhex)
        val auth = req["auth"] as? JsonObject ?: JsonObject(emptyMap())
        arrow = if (auth.str("kind") == "headers") {
            sdk.createArrowStream(req.str("table"), schema, headersProvider(auth), options)
        } else {
            sdk.createArrowStream(req.str("table"), schema, auth.str("client_id"), auth.str("client_secret"), options)
        }
        arrowLast = true
        return result {}
    }

    /** `ipc`: the bytes to ingestIpc; `native`: decoded by Arrow Java, its one batch to ingestBatch(VectorSchemaRoot). */
    suspend fun ingestArrow(req: JsonObject): JsonObject {
        val s = arrow()
        val ipc = unhex(req.str("ipc_hex"))
        val offset = if (req.str("form") == "native") {
            ArrowStreamReader(ByteArrayInputStream(ipc), allocator).use { reader ->
                if (!reader.loadNextBatch()) throw bad("the native form needs one record batch; the IPC stream has none")
                s.ingestBatch(reader.vectorSchemaRoot)
            }
        } else {
            s.ingestIpc(ipc)
        }
        return result { put("offset", offset) }
    }

    /** `producers` coroutines at once (on Dispatchers.Default) on the one stream, producer k with seed + k. */
    suspend fun ingestConcurrent(req: JsonObject): JsonObject {
        val s = stream()
        val seed = req.long("seed") ?: 1
        val n = (req.long("producers") ?: 1).toInt()
        val results = coroutineScope {
            (0 until n).map { k -> async(Dispatchers.Default) { runCatching { produce(s, req, seed + k) } } }
                .map { it.await() }
        }
        // The first failure in producer order, as the other testees report it.
        val lists = results.map { it.getOrThrow() }
        return result { put("offsets", JsonArray(lists.map { offsets(it) })) }
    }

    suspend fun tableSchema(req: JsonObject): JsonObject {
        val auth = req["auth"] as? JsonObject ?: JsonObject(emptyMap())
        val schema = sdk(req).use { sdk ->
            if (auth.str("kind") == "headers") {
                sdk.getTableSchema(req.str("table"), headersProvider(auth))
            } else {
                sdk.getTableSchema(req.str("table"), auth.str("client_id"), auth.str("client_secret"))
            }
        }
        val columns = schema.columns.map { c ->
            buildJsonObject {
                put("name", c.name)
                put("type", c.typeText)
                put("nullable", c.nullable)
                put("position", c.position)
            }
        }
        return result {
            put("columns", JsonArray(columns))
            put("descriptor_hex", hex(schema.descriptorProto))
        }
    }

    suspend fun ingestRaw(req: JsonObject): JsonObject {
        val s = stream()
        val texts = (req["records"] as? JsonArray ?: JsonArray(emptyList())).map { it.jsonPrimitive.content }
        val proto = req.str("kind") == "proto"
        val out = ArrayList<Long?>()
        if (req.str("kind") == "object") {
            // Native objects: each text parsed into a Map<String, Any?> for the SDK's map calls.
            val records = texts.map { t ->
                @Suppress("UNCHECKED_CAST")
                native(Json.parseToJsonElement(t)) as? Map<String, Any?> ?: throw bad("object record $t is not a JSON object")
            }
            if (req.bool("batch") == true) {
                out.add(s.ingestRecordsOffset(records))
            } else {
                for (r in records) out.add(s.ingestRecordOffset(r))
            }
            return result { put("offsets", offsets(out)) }
        }
        if (req.bool("batch") == true) {
            out.add(if (proto) s.ingestRecordsOffset(texts.map { unhex(it) }) else s.ingestRecordsOffset(texts))
        } else {
            for (t in texts) out.add(if (proto) s.ingestRecordOffset(unhex(t)) else s.ingestRecordOffset(t))
        }
        return result { put("offsets", offsets(out)) }
    }
}

/**
 * Ingests records start…start+count−1 of [seed] in calls of `batch`, as one producer: JSON records
 * as Strings (text), proto records as bytes. Returns the offsets (none in nowait mode).
 */
private suspend fun produce(s: ZerobusStream, req: JsonObject, seed: Long): List<Long?> {
    val start = req.long("start") ?: 0
    val count = req.long("count") ?: 0
    val size = (req.long("size") ?: 100).toInt()
    val batch = maxOf(1, req.long("batch") ?: 1)
    val mode = (req["mode"] as? JsonPrimitive)?.contentOrNull ?: "offset"
    val proto = s.recordType == RecordType.PROTO
    val out = ArrayList<Long?>()
    var i = start
    while (i < start + count) {
        val end = minOf(i + batch, start + count)
        val offset: Long? = if (proto) {
            if (batch == 1L) {
                val r = Records.proto(seed, i, size)
                when (mode) {
                    "offset" -> s.ingestRecordOffset(r)
                    "try" -> s.tryIngestRecordOffset(r)
                    else -> {
                        s.ingestRecordNowait(r)
                        null
                    }
                }
            } else {
                val records = (i until end).map { Records.proto(seed, it, size) }
                when (mode) {
                    "offset" -> s.ingestRecordsOffset(records)
                    "try" -> s.tryIngestRecordsOffset(records)
                    else -> {
                        s.ingestRecordsNowait(records)
                        null
                    }
                }
            }
        } else {
            if (batch == 1L) {
                val r = Records.json(seed, i, size)
                when (mode) {
                    "offset" -> s.ingestRecordOffset(r)
                    "try" -> s.tryIngestRecordOffset(r)
                    else -> {
                        s.ingestRecordNowait(r)
                        null
                    }
                }
            } else {
                val records: List<String> = (i until end).map { Records.json(seed, it, size) }
                when (mode) {
                    "offset" -> s.ingestRecordsOffset(records)
                    "try" -> s.tryIngestRecordsOffset(records)
                    else -> {
                        s.ingestRecordsNowait(records)
                        null
                    }
                }
            }
        }
        if (mode != "nowait") out.add(offset)
        i = end
    }
    return out
}

private inline fun result(fill: kotlinx.serialization.json.JsonObjectBuilder.() -> Unit): JsonObject = buildJsonObject(fill)

private fun errorJson(e: ZerobusException): JsonObject = buildJsonObject {
    put("code", e.code.name)
    put("grpc_status", e.grpcStatus)
    put("retryable", e.retryable)
    put("message", e.detail)
}

fun main() {
    val testee = Testee()
    val input = System.`in`.bufferedReader(Charsets.UTF_8)
    val stdout = System.out
    runBlocking {
        while (true) {
            val line = input.readLine() ?: break
            val req = try {
                Json.parseToJsonElement(line) as JsonObject
            } catch (e: Exception) {
                System.err.println("testee-kotlin: bad request line: $e")
                continue
            }
            if (req.str("op") == "quit") break
            val body: Map<String, JsonElement> = try {
                testee.handle(req) + ("ok" to JsonPrimitive(true))
            } catch (e: ZerobusException) {
                mapOf("ok" to JsonPrimitive(false), "error" to errorJson(e))
            } catch (e: Exception) {
                val internal = ZerobusException.Internal("testee: $e")
                mapOf("ok" to JsonPrimitive(false), "error" to errorJson(internal))
            }
            val reply = JsonObject(body + ("id" to (req["id"] ?: JsonNull)))
            stdout.println(reply.toString())
            stdout.flush()
        }
        // Close explicitly so a stream left open by a case is shut down before the JVM goes.
        testee.stream?.let { s -> runCatching { s.close() } }
        testee.arrow?.let { s -> runCatching { s.close() } }
    }
}
