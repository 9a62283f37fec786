package com.databricks.zerobus.kotlin

import java.math.BigDecimal
import java.math.BigInteger
import java.nio.ByteBuffer
import java.time.Instant
import java.time.LocalDate
import java.time.LocalDateTime
import java.time.OffsetDateTime
import java.time.ZonedDateTime
import java.util.Base64
import java.util.UUID

/**
 * Writes native records (`Map<String, Any?>`) as compact UTF-8 JSON text, back to back in one
 * growable buffer, so a whole batch crosses to the core in one call (one buffer plus lengths)
 * and the core encodes it: by the table's column types on a stream opened from its table, as
 * JSON text on a JSON stream. Ours, not a library's: the SDK takes no JSON dependency, and a
 * writer that only writes needs no tree, reflection or configuration.
 *
 * Values, by their JVM type (the text forms are those PROTOCOL.md §7 and the core's typed encoder
 * read): `null`; `Boolean`; integers (`Byte` … `Long`, `BigInteger`, Kotlin's unsigned types) as
 * JSON numbers; `Float` / `Double` as numbers, `NaN` / `±Infinity` as the strings `"NaN"`,
 * `"Infinity"`, `"-Infinity"`; `BigDecimal` as its plain decimal string (`"12.50"`); `CharSequence`,
 * `Char`, `UUID` and enums (their name) as strings; `Instant`, `OffsetDateTime`, `ZonedDateTime`
 * as RFC 3339 text with an offset, `LocalDateTime` without one (TIMESTAMP_NTZ); `LocalDate` as
 * `YYYY-MM-DD`; `ByteArray` and `ByteBuffer` (its remaining bytes) as base64; maps (keys written
 * with `toString()`) as objects; `Iterable`s, arrays and primitive arrays as lists. Anything else
 * fails the call with [ZerobusException.InvalidRecord] naming the record and the key path, before
 * anything is sent.
 */
internal class JsonWriter {
    /** The text written so far: `buf[0 until size]`. */
    var buf = ByteArray(INITIAL)
        private set
    var size = 0
        private set

    /** Forgets what was written; keeps the buffer unless it grew past [KEEP_MAX]. */
    fun reset() {
        size = 0
        if (buf.size > KEEP_MAX) buf = ByteArray(INITIAL)
    }

    /** Writes one record. [index] (batches) goes into the error message of an unwritable value. */
    fun record(record: Map<*, *>, index: Int = -1) {
        try {
            map(record, 0)
        } catch (e: Unwritable) {
            val where = if (e.path.isEmpty()) "the record" else "`${e.path}`"
            val which = if (index >= 0) "record $index of the batch: " else ""
            throw ZerobusException.InvalidRecord("$which$where: ${e.reason}; nothing was queued, the stream carries on")
        }
    }

    private fun value(v: Any?, depth: Int) {
        when (v) {
            null -> ascii("null")
            is String -> string(v)
            is Boolean -> ascii(if (v) "true" else "false")
            is Int -> long(v.toLong())
            is Long -> long(v)
            is Short -> long(v.toLong())
            is Byte -> long(v.toLong())
            is Double -> double(v)
            is Float -> if (v.isFinite()) ascii(v.toString()) else double(v.toDouble())
            is Map<*, *> -> map(v, depth + 1)
            is BigDecimal -> {
                byte('"'.code)
                ascii(v.toPlainString())
                byte('"'.code)
            }
            is BigInteger -> ascii(v.toString())
            is CharSequence -> string(v)
            is Char -> string(v.toString())
            is Instant -> quotedAscii(v.toString())
            is OffsetDateTime -> quotedAscii(v.toString())
            is ZonedDateTime -> quotedAscii(v.toOffsetDateTime().toString())
            is LocalDateTime -> quotedAscii(v.toString())
            is LocalDate -> quotedAscii(v.toString())
            is ByteArray -> base64(v)
            is ByteBuffer -> base64(ByteArray(v.remaining()).also { v.duplicate().get(it) })
            is UUID -> quotedAscii(v.toString())
            is Enum<*> -> string(v.name)
            is UByte, is UShort, is UInt, is ULong -> ascii(v.toString())
            is Iterable<*> -> list(v.iterator(), depth + 1)
            is Array<*> -> list(v.iterator(), depth + 1)
            is IntArray -> list(v.iterator(), depth + 1)
            is LongArray -> list(v.iterator(), depth + 1)
            is DoubleArray -> list(v.iterator(), depth + 1)
            is FloatArray -> list(v.iterator(), depth + 1)
            is ShortArray -> list(v.iterator(), depth + 1)
            is BooleanArray -> list(v.iterator(), depth + 1)
            else -> throw Unwritable(
                "a ${v.javaClass.name} has no JSON form (give maps, lists, strings, numbers, booleans, null, " +
                    "BigDecimal, Instant, LocalDate, LocalDateTime or ByteArray)",
            )
        }
    }

    private fun map(m: Map<*, *>, depth: Int) {
        if (depth > MAX_DEPTH) throw Unwritable("nested deeper than $MAX_DEPTH levels (does a map contain itself?)")
        byte('{'.code)
        var first = true
        for ((k, v) in m) {
            if (k == null) throw Unwritable("a map has a null key")
            val key = k as? String ?: k.toString()
            if (!first) byte(','.code)
            first = false
            string(key)
            byte(':'.code)
            try {
                value(v, depth)
            } catch (e: Unwritable) {
                throw e.within(key)
            }
        }
        byte('}'.code)
    }

    private fun list(items: Iterator<*>, depth: Int) {
        if (depth > MAX_DEPTH) throw Unwritable("nested deeper than $MAX_DEPTH levels (does a list contain itself?)")
        byte('['.code)
        var i = 0
        while (items.hasNext()) {
            val v = items.next()
            if (i > 0) byte(','.code)
            try {
                value(v, depth)
            } catch (e: Unwritable) {
                throw e.within("[$i]")
            }
            i++
        }
        byte(']'.code)
    }

    private fun double(d: Double) {
        when {
            d.isNaN() -> ascii("\"NaN\"")
            d == Double.POSITIVE_INFINITY -> ascii("\"Infinity\"")
            d == Double.NEGATIVE_INFINITY -> ascii("\"-Infinity\"")
            else -> ascii(d.toString()) // `1.0E10`, `-0.0`: valid JSON numbers
        }
    }

    /** A `Long` in decimal, without a String. */
    private fun long(v: Long) {
        if (v == Long.MIN_VALUE) {
            ascii("-9223372036854775808")
            return
        }
        var n = v
        if (n < 0) {
            byte('-'.code)
            n = -n
        }
        var digits = 1
        var p = 10L
        while (digits < 19 && n >= p) {
            digits++
            p *= 10
        }
        room(digits)
        var at = size + digits
        do {
            buf[--at] = ('0'.code + (n % 10).toInt()).toByte()
            n /= 10
        } while (n > 0)
        size += digits
    }

    private fun base64(b: ByteArray) {
        byte('"'.code)
        val enc = Base64.getEncoder().encode(b)
        room(enc.size)
        enc.copyInto(buf, size)
        size += enc.size
        byte('"'.code)
    }

    private fun quotedAscii(s: String) {
        byte('"'.code)
        ascii(s)
        byte('"'.code)
    }

    /** A JSON string: `"`, `\` and control characters escaped, the rest as UTF-8. */
    private fun string(s: CharSequence) {
        val n = s.length
        room(n + 2)
        buf[size++] = '"'.code.toByte()
        var i = 0
        while (i < n) {
            val c = s[i]
            when {
                c.code >= 0x20 && c.code < 0x80 && c != '"' && c != '\\' -> {
                    room(1)
                    buf[size++] = c.code.toByte()
                }
                c == '"' -> ascii("\\\"")
                c == '\\' -> ascii("\\\\")
                c == '\n' -> ascii("\\n")
                c == '\r' -> ascii("\\r")
                c == '\t' -> ascii("\\t")
                c.code < 0x20 -> escape(c)
                c.code < 0x800 -> {
                    room(2)
                    buf[size++] = (0xC0 or (c.code shr 6)).toByte()
                    buf[size++] = (0x80 or (c.code and 0x3F)).toByte()
                }
                c.isHighSurrogate() && i + 1 < n && s[i + 1].isLowSurrogate() -> {
                    val cp = Character.toCodePoint(c, s[i + 1])
                    i++
                    room(4)
                    buf[size++] = (0xF0 or (cp shr 18)).toByte()
                    buf[size++] = (0x80 or ((cp shr 12) and 0x3F)).toByte()
                    buf[size++] = (0x80 or ((cp shr 6) and 0x3F)).toByte()
                    buf[size++] = (0x80 or (cp and 0x3F)).toByte()
                }
                // A lone surrogate has no UTF-8 form: written as its escape, for the core to judge.
                c.isSurrogate() -> escape(c)
                else -> {
                    room(3)
                    buf[size++] = (0xE0 or (c.code shr 12)).toByte()
                    buf[size++] = (0x80 or ((c.code shr 6) and 0x3F)).toByte()
                    buf[size++] = (0x80 or (c.code and 0x3F)).toByte()
                }
            }
            i++
        }
        byte('"'.code)
    }

    private fun escape(c: Char) {
        ascii("\\u")
        val h = c.code
        for (shift in intArrayOf(12, 8, 4, 0)) byte(HEX[(h shr shift) and 0xF].code)
    }

    private fun ascii(s: String) {
        room(s.length)
        for (ch in s) buf[size++] = ch.code.toByte()
    }

    private fun byte(b: Int) {
        room(1)
        buf[size++] = b.toByte()
    }

    private fun room(n: Int) {
        if (size + n <= buf.size) return
        val need = size.toLong() + n
        if (need > Int.MAX_VALUE - 16) throw ZerobusException.RecordTooLarge("the records' JSON text exceeds 2 GiB; split the call")
        buf = buf.copyOf(maxOf(need, 2L * buf.size).coerceAtMost(Int.MAX_VALUE - 16L).toInt())
    }

    /** A value with no JSON form; [path] is built as the failure unwinds (`loc.lat`, `tags[2]`). */
    private class Unwritable(val reason: String) : RuntimeException(reason, null, false, false) {
        var path = ""
            private set

        /** Prepends a key or `[index]` step, with a `.` before a key step that follows. */
        fun within(step: String): Unwritable {
            path = if (path.isEmpty() || path.startsWith("[")) step + path else "$step.$path"
            return this
        }
    }

    companion object {
        private const val INITIAL = 1024
        private const val KEEP_MAX = 4 shl 20
        private const val MAX_DEPTH = 64
        private const val HEX = "0123456789abcdef"

        private val local = ThreadLocal.withInitial { JsonWriter() }

        /** This thread's writer, reset. Use it between two suspensions only (no suspension while it holds text). */
        fun get(): JsonWriter = local.get().also { it.reset() }
    }
}
