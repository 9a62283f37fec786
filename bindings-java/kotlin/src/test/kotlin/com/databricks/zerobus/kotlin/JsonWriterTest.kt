package com.databricks.zerobus.kotlin

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.math.BigDecimal
import java.math.BigInteger
import java.nio.ByteBuffer
import java.time.Instant
import java.time.LocalDate
import java.time.LocalDateTime
import java.time.OffsetDateTime
import java.time.ZoneId
import java.time.ZoneOffset
import java.time.ZonedDateTime
import java.util.UUID

class JsonWriterTest {
    private fun json(m: Map<*, *>): String {
        val w = JsonWriter()
        w.record(m)
        return String(w.buf, 0, w.size, Charsets.UTF_8)
    }

    private enum class Color { RED }

    @Test
    fun writesEveryValueTypeInItsTextForm() {
        val m = linkedMapOf<String, Any?>(
            "n" to null, "t" to true, "f" to false,
            "i" to 42, "l" to Long.MIN_VALUE, "max" to Long.MAX_VALUE, "s" to (-7).toShort(), "b" to 0.toByte(),
            "d" to 1.5, "e" to 1e21, "nan" to Double.NaN, "inf" to Double.POSITIVE_INFINITY,
            "ninf" to Float.NEGATIVE_INFINITY, "fl" to 0.1f,
            "big" to BigInteger("123456789012345678901234567890"), "dec" to BigDecimal("1E+3"), "dec2" to BigDecimal("12.50"),
            "u" to 4_000_000_000u, "ch" to 'x', "enum" to Color.RED,
            "uuid" to UUID.fromString("123e4567-e89b-12d3-a456-426614174000"),
            "at" to Instant.parse("2024-05-01T12:30:00.123456Z"),
            "odt" to OffsetDateTime.of(2024, 5, 1, 12, 30, 5, 0, ZoneOffset.ofHours(2)),
            "zdt" to ZonedDateTime.of(2024, 1, 1, 0, 0, 0, 0, ZoneId.of("Europe/Paris")),
            "ldt" to LocalDateTime.of(2024, 5, 1, 12, 30, 1),
            "day" to LocalDate.of(2024, 2, 29),
            "raw" to byteArrayOf(0, 1, 2, -1), "buf" to ByteBuffer.wrap(byteArrayOf(104, 105)),
            "list" to listOf(1, "two", null), "arr" to arrayOf(1L), "ints" to intArrayOf(1, 2), "set" to setOf(true),
            "nested" to mapOf("k" to mapOf(1 to 2)),
        )
        assertEquals(
            """{"n":null,"t":true,"f":false,"i":42,"l":-9223372036854775808,"max":9223372036854775807,"s":-7,"b":0,""" +
                """"d":1.5,"e":1.0E21,"nan":"NaN","inf":"Infinity","ninf":"-Infinity","fl":0.1,""" +
                """"big":123456789012345678901234567890,"dec":"1000","dec2":"12.50","u":4000000000,"ch":"x","enum":"RED",""" +
                """"uuid":"123e4567-e89b-12d3-a456-426614174000","at":"2024-05-01T12:30:00.123456Z",""" +
                """"odt":"2024-05-01T12:30:05+02:00","zdt":"2024-01-01T00:00+01:00","ldt":"2024-05-01T12:30:01",""" +
                """"day":"2024-02-29","raw":"AAEC/w==","buf":"aGk=","list":[1,"two",null],"arr":[1],"ints":[1,2],""" +
                """"set":[true],"nested":{"k":{"1":2}}}""",
            json(m),
        )
    }

    @Test
    fun escapesStringsAndWritesUtf8() {
        val s = "q\"b\\n\nr\rt\t\u0001é€😀\uD800x"
        assertEquals(
            "{\"k\\\"\":\"q\\\"b\\\\n\\nr\\rt\\t\\u0001é€😀\\ud800x\"}",
            json(mapOf("k\"" to s)),
        )
        // A long string grows the buffer.
        val long = "a".repeat(5000) + "é"
        assertEquals("{\"s\":\"$long\"}", json(mapOf("s" to long)))
    }

    @Test
    fun recordsGoBackToBackAndResetKeepsTheBuffer() {
        val w = JsonWriter()
        w.record(mapOf("a" to 1))
        val first = w.size
        w.record(mapOf("b" to 2))
        assertEquals("""{"a":1}{"b":2}""", String(w.buf, 0, w.size))
        assertEquals(7, first)
        w.reset()
        assertEquals(0, w.size)
    }

    @Test
    fun anUnwritableValueNamesTheRecordAndThePath() {
        val w = JsonWriter()
        var e = assertThrows<ZerobusException.InvalidRecord> {
            w.record(mapOf("loc" to mapOf("lat" to Any())), 3)
        }
        assertTrue(e.detail.startsWith("record 3 of the batch: `loc.lat`: a java.lang.Object has no JSON form"), e.detail)
        e = assertThrows { w.record(mapOf("tags" to listOf("a", listOf(Thread.currentThread())))) }
        assertTrue(e.detail.startsWith("`tags[1][0]`: a java.lang.Thread"), e.detail)
        e = assertThrows { w.record(mapOf("xs" to listOf(mapOf("y" to Any())))) }
        assertTrue(e.detail.startsWith("`xs[0].y`:"), e.detail)
        e = assertThrows { w.record(mapOf(null to 1)) }
        assertTrue(e.detail.startsWith("the record: a map has a null key"), e.detail)
        val loop = HashMap<String, Any?>()
        loop["self"] = loop
        e = assertThrows { w.record(loop) }
        assertTrue(e.detail.contains("nested deeper than"), e.detail)
    }
}
