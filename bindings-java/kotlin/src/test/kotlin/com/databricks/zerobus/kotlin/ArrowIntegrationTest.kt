package com.databricks.zerobus.kotlin

import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.apache.arrow.memory.BufferAllocator
import org.apache.arrow.memory.RootAllocator
import org.apache.arrow.vector.BigIntVector
import org.apache.arrow.vector.BitVector
import org.apache.arrow.vector.DecimalVector
import org.apache.arrow.vector.IntVector
import org.apache.arrow.vector.LargeVarCharVector
import org.apache.arrow.vector.VarCharVector
import org.apache.arrow.vector.VectorSchemaRoot
import org.apache.arrow.vector.complex.FixedSizeListVector
import org.apache.arrow.vector.complex.ListVector
import org.apache.arrow.vector.complex.StructVector
import org.apache.arrow.vector.ipc.ArrowStreamReader
import org.apache.arrow.vector.ipc.ArrowStreamWriter
import org.apache.arrow.vector.types.pojo.ArrowType
import org.apache.arrow.vector.types.pojo.Field
import org.apache.arrow.vector.types.pojo.FieldType
import org.apache.arrow.vector.types.pojo.Schema
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.math.BigDecimal
import java.nio.channels.Channels

/** Arrow streams (IPC bytes, and Arrow Java batches as their buffers or through the C Data Interface) against `zerobus serve`. */
class ArrowIntegrationTest {
    private val table = "main.default.cars"
    private val definition = "$table(name STRING NOT NULL, seats INT)"

    /** The schema the table maps to (PROTOCOL.md §9): STRING NOT NULL → LargeUtf8, INT → Int32. */
    private val carsSchema = Schema(
        listOf(
            Field("name", FieldType.notNullable(ArrowType.LargeUtf8()), null),
            Field("seats", FieldType.nullable(ArrowType.Int(32, true)), null),
        ),
    )

    /** Rows from..from+rows-1 of the cars table into [root]. */
    private fun fill(root: VectorSchemaRoot, from: Int, rows: Int) {
        val names = root.getVector("name") as LargeVarCharVector
        val seats = root.getVector("seats") as IntVector
        names.allocateNew(rows)
        seats.allocateNew(rows)
        for (i in 0 until rows) {
            names.setSafe(i, "car-${from + i}".toByteArray())
            seats.setSafe(i, from + i)
        }
        root.rowCount = rows
    }

    /** An IPC stream of [root]'s schema and one batch per entry of [batches] (from, rows). */
    private fun ipc(root: VectorSchemaRoot, vararg batches: Pair<Int, Int>): ByteArray {
        val out = ByteArrayOutputStream()
        ArrowStreamWriter(root, null, Channels.newChannel(out)).use { w ->
            w.start()
            for ((from, rows) in batches) {
                fill(root, from, rows)
                w.writeBatch()
            }
            w.end()
        }
        return out.toByteArray()
    }

    /** The schema and the `seats` column of every batch of an IPC stream. */
    private fun read(allocator: BufferAllocator, ipc: ByteArray): Pair<Schema, List<Int>> {
        ArrowStreamReader(ByteArrayInputStream(ipc), allocator).use { r ->
            val root = r.vectorSchemaRoot
            val seats = ArrayList<Int>()
            while (r.loadNextBatch()) {
                val v = root.getVector("seats") as IntVector
                for (i in 0 until root.rowCount) seats.add(v.get(i))
            }
            return root.schema to seats
        }
    }

    @Test
    fun fromTheTableIpcAndVectorSchemaRootsEachGetOneOffset(): Unit = runBlocking {
        Serve("--table", definition).use { serve ->
            RootAllocator().use { allocator ->
                serve.sdk().use { sdk ->
                    val acks = AckFlow()
                    val options = ArrowStreamConfigurationOptions(ackCallback = acks)
                    sdk.createArrowStream(table, null, serve.clientId(), serve.clientSecret(), options).use { s ->
                        assertEquals(table, s.tableName)
                        val (schema, none) = read(allocator, s.schemaIpc)
                        assertEquals(carsSchema, schema)
                        assertTrue(none.isEmpty())

                        VectorSchemaRoot.create(carsSchema, allocator).use { root ->
                            // An IPC stream of two batches: one call, one offset.
                            assertEquals(0L, s.ingestIpc(ipc(root, 0 to 3, 3 to 2)))
                            fill(root, 5, 4)
                            assertEquals(1L, s.ingestBatch(root))
                            // The root can be refilled at once: the batch was read before the call returned.
                            fill(root, 9, 1)
                            val last = s.ingestBatch(root)
                            assertEquals(2L, last)
                            s.waitForOffset(last)
                        }
                        s.flush()
                        val m = s.metrics()
                        assertEquals(2L, m.lastAckedOffset)
                        assertEquals(10L, m.recordsSent, "metrics count rows")
                        assertEquals(0L, m.inflightRecords)
                        // Nothing unacked: the schema alone.
                        val (unackedSchema, unacked) = read(allocator, s.getUnackedIpc())
                        assertEquals(carsSchema, unackedSchema)
                        assertTrue(unacked.isEmpty())
                        assertFalse(s.isClosed)
                    }
                    assertEquals(listOf(0L, 1L, 2L), acks.events.take(3).toList().map { it.offset })
                }
            }
        }
    }

    /** Waits (up to 10 s) until [allocator] holds no memory; what it still holds. */
    private fun drained(allocator: BufferAllocator): Long {
        val deadline = System.nanoTime() + 10_000_000_000L
        while (allocator.allocatedMemory != 0L && System.nanoTime() < deadline) Thread.sleep(5)
        return allocator.allocatedMemory
    }

    @Test
    fun transferredRootsAreSentFromTheirOwnBuffersAndReleasedOnceAcked(): Unit = runBlocking {
        Serve("--table", definition).use { serve ->
            RootAllocator().use { allocator ->
                serve.sdk().use { sdk ->
                    sdk.createArrowStream(table, null, serve.clientId(), serve.clientSecret()).use { s ->
                        VectorSchemaRoot.create(carsSchema, allocator).use { root ->
                            fill(root, 0, 3)
                            assertEquals(0L, s.ingestBatchTransfer(root))
                            assertEquals(0, root.rowCount, "the root is left empty")
                            assertEquals(0, root.getVector("seats").valueCount)
                            fill(root, 3, 2)
                            assertEquals(1L, s.ingestBatchTransfer(root))
                        }
                        s.flush()
                        // Root closed, rows acked: the SDK has let go of the transferred buffers.
                        assertEquals(0L, drained(allocator), "buffers still held after the acks")
                        assertEquals(5L, s.metrics().recordsSent)
                    }
                }
            }
        }
        // Unacked, the buffers stay the stream's: refilling the root does not touch the rows sent.
        // (This allocator is not closed: the stream, never acked, holds its memory until collected.)
        Serve("--table", definition, "--withhold-acks").use { serve ->
            val allocator = RootAllocator()
            serve.sdk().use { sdk ->
                val s = sdk.createArrowStream(table, null, serve.clientId(), serve.clientSecret())
                VectorSchemaRoot.create(carsSchema, allocator).use { root ->
                    fill(root, 0, 3)
                    s.ingestBatchTransfer(root)
                    fill(root, 3, 2)
                    s.ingestBatchTransfer(root)
                    fill(root, 100, 3)
                }
                assertTrue(allocator.allocatedMemory > 0, "the unacked rows' buffers are held")
                assertEquals(listOf(0, 1, 2, 3, 4), read(RootAllocator(), s.getUnackedIpc()).second)
            }
        }
    }

    /** The rows of every batch of an IPC stream as Arrow Java prints them, after checking its schema. */
    private fun rows(allocator: BufferAllocator, ipc: ByteArray, expected: Schema): String =
        ArrowStreamReader(ByteArrayInputStream(ipc), allocator).use { r ->
            assertEquals(expected, r.vectorSchemaRoot.schema)
            buildString { while (r.loadNextBatch()) append(r.vectorSchemaRoot.contentToTSVString()) }
        }

    /**
     * Nulls, booleans, decimals, lists and structs cross as their buffers; a layout read only
     * through the C Data Interface (a fixed-size list) still arrives. Both are checked by reading
     * back what core encoded (the unacked rows of a stream the server never acks).
     */
    @Test
    fun nestedNullableAndFallbackLayoutsArriveAsTheyWere(): Unit = runBlocking {
        val item = Field("item", FieldType.nullable(ArrowType.Int(32, true)), null)
        val shapes = Schema(
            listOf(
                Field("ok", FieldType.nullable(ArrowType.Bool.INSTANCE), null),
                Field("price", FieldType.nullable(ArrowType.Decimal(10, 2, 128)), null),
                Field("tags", FieldType.nullable(ArrowType.List.INSTANCE), listOf(item)),
                Field(
                    "dims", FieldType.nullable(ArrowType.Struct.INSTANCE),
                    listOf(
                        Field("w", FieldType.nullable(ArrowType.Int(32, true)), null),
                        Field("label", FieldType.nullable(ArrowType.Utf8()), null),
                    ),
                ),
            ),
        )
        val pairs = Schema(listOf(Field("pair", FieldType.nullable(ArrowType.FixedSizeList(2)), listOf(item))))
        Serve("--withhold-acks").use { serve ->
            RootAllocator().use { allocator ->
                serve.sdk().use { sdk ->
                    VectorSchemaRoot.create(shapes, allocator).use { root ->
                        val ok = root.getVector("ok") as BitVector
                        val price = root.getVector("price") as DecimalVector
                        val tags = root.getVector("tags") as ListVector
                        val dims = root.getVector("dims") as StructVector
                        val w = dims.getChild("w", IntVector::class.java)
                        val label = dims.getChild("label", VarCharVector::class.java)
                        val tw = tags.writer
                        for (i in 0 until 5) {
                            if (i % 3 == 1) {
                                ok.setNull(i)
                                price.setNull(i)
                                dims.setNull(i)
                            } else {
                                ok.setSafe(i, i % 2)
                                price.setSafe(i, BigDecimal("$i.25"))
                                dims.setIndexDefined(i)
                                w.setSafe(i, 10 * i)
                                label.setSafe(i, "box-$i".toByteArray())
                            }
                            tw.position = i
                            if (i != 2) {
                                tw.startList()
                                for (k in 0 until i) tw.writeInt(100 * i + k)
                                tw.endList()
                            }
                        }
                        tags.valueCount = 5
                        dims.valueCount = 5
                        root.rowCount = 5
                        val s = sdk.createArrowStream(
                            "main.default.events", ipc(root), serve.clientId(), serve.clientSecret(),
                        )
                        val want = root.contentToTSVString()
                        assertEquals(0L, s.ingestBatch(root))
                        assertEquals(want, rows(allocator, s.getUnackedIpc(), shapes))
                    }
                    VectorSchemaRoot.create(pairs, allocator).use { fixed ->
                        val pw = (fixed.getVector("pair") as FixedSizeListVector).writer
                        for (i in 0 until 3) {
                            pw.position = i
                            pw.startList()
                            pw.writeInt(i)
                            pw.writeInt(-i)
                            pw.endList()
                        }
                        fixed.rowCount = 3
                        val f = sdk.createArrowStream(
                            "main.default.events", ipc(fixed), serve.clientId(), serve.clientSecret(),
                        )
                        assertEquals(0L, f.ingestBatch(fixed))
                        assertEquals(fixed.contentToTSVString(), rows(allocator, f.getUnackedIpc(), pairs))
                    }
                }
            }
        }
    }

    @Test
    fun aGivenSchemaWithCompressionAndBatchesThatDoNotFit(): Unit = runBlocking {
        Serve("--table", definition).use { serve ->
            RootAllocator().use { allocator ->
                serve.sdk().use { sdk ->
                    val schemaIpc = VectorSchemaRoot.create(carsSchema, allocator).use { ipc(it) }
                    val options = ArrowStreamConfigurationOptions(
                        ipcCompression = IpcCompression.LZ4_FRAME,
                        maxInflightBatches = 4,
                        connectionTimeoutMs = 10_000,
                    )
                    val s = sdk.createArrowStream(table, schemaIpc, serve.clientId(), serve.clientSecret(), options)
                    // A Utf8 name is widened to the stream's LargeUtf8 by core, but a BIGINT seats is
                    // not the table's INT: refused, naming the column.
                    val wrong = Schema(
                        listOf(
                            Field("name", FieldType.notNullable(ArrowType.Utf8()), null),
                            Field("seats", FieldType.nullable(ArrowType.Int(64, true)), null),
                        ),
                    )
                    VectorSchemaRoot.create(wrong, allocator).use { root ->
                        (root.getVector("name") as VarCharVector).setSafe(0, "x".toByteArray())
                        (root.getVector("seats") as BigIntVector).setSafe(0, 1L)
                        root.rowCount = 1
                        var e = assertThrows<ZerobusException.InvalidRecord> { runBlocking { s.ingestBatch(root) } }
                        assertTrue(e.detail.contains("seats"), e.detail)
                        val out = ByteArrayOutputStream()
                        ArrowStreamWriter(root, null, Channels.newChannel(out)).use { w ->
                            w.start()
                            w.writeBatch()
                            w.end()
                        }
                        e = assertThrows { runBlocking { s.ingestIpc(out.toByteArray()) } }
                        assertTrue(e.detail.contains("seats"), e.detail)
                    }
                    assertThrows<ZerobusException> { runBlocking { s.ingestIpc(byteArrayOf(1, 2, 3)) } }
                    // The stream carries on after refused calls; offsets start at 0.
                    VectorSchemaRoot.create(carsSchema, allocator).use { root ->
                        fill(root, 0, 100)
                        assertEquals(0L, s.ingestBatch(root))
                    }
                    // Recreating needs a closed or failed stream.
                    val e = assertThrows<ZerobusException.InvalidArgument> { runBlocking { sdk.recreateArrowStream(s) } }
                    assertTrue(e.detail.contains("close it first"), e.detail)
                    s.close()
                    assertTrue(s.isClosed)
                    s.close()
                    assertEquals(100L, s.metrics().recordsSent)
                    assertThrows<ZerobusException.StreamClosed> { runBlocking { s.ingestIpc(schemaIpc) } }
                    // A closed stream's recreation opens a new one with nothing to resend.
                    sdk.recreateArrowStream(s).use { again ->
                        assertEquals(table, again.tableName)
                        assertEquals(carsSchema, read(allocator, again.schemaIpc).first)
                        again.flush()
                        assertEquals(0L, again.metrics().recordsSent)
                    }
                }
            }
        }
    }

    @Test
    fun creationErrorsNameTheProblem(): Unit = runBlocking {
        Serve("--table", definition).use { serve ->
            serve.sdk().use { sdk ->
                var e: ZerobusException = assertThrows<ZerobusException.InvalidArgument> {
                    runBlocking { sdk.createArrowStream(table, byteArrayOf(9, 9), serve.clientId(), serve.clientSecret()) }
                }
                assertTrue(e.detail.contains("Arrow IPC"), e.detail)
                e = assertThrows<ZerobusException.InvalidArgument> {
                    runBlocking {
                        sdk.createArrowStream(
                            table, null, serve.clientId(), serve.clientSecret(),
                            ArrowStreamConfigurationOptions(connectionTimeoutMs = 0),
                        )
                    }
                }
                assertTrue(e.detail.contains("connection_timeout_ms"), e.detail)
                e = assertThrows<ZerobusException.InvalidArgument> {
                    runBlocking {
                        sdk.createArrowStream(
                            table, null, serve.clientId(), serve.clientSecret(),
                            ArrowStreamConfigurationOptions(maxInflightBatches = 200_000_000),
                        )
                    }
                }
                assertTrue(e.detail.contains("max_inflight_batches"), e.detail)
                assertThrows<ZerobusException.NotFound> {
                    runBlocking { sdk.createArrowStream("main.default.missing", null, serve.clientId(), serve.clientSecret()) }
                }
                // With a headers provider, its headers are the credential.
                assertThrows<ZerobusException.Unauthenticated> {
                    runBlocking { sdk.createArrowStream(table, null, { listOf("authorization" to "Bearer nope") }) }
                }
            }
        }
    }
}
