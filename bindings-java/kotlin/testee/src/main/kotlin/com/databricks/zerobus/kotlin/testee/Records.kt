package com.databricks.zerobus.kotlin.testee

import java.io.ByteArrayOutputStream

/** The conformance records, byte for byte as conformance/src/records.rs generates them. */
internal object Records {
    /** JSON record `{"seed":S,"seq":I,"pad":"…"}` padded to exactly [size] bytes. */
    fun json(seed: Long, index: Long, size: Int): String {
        val head = "{\"seed\":${java.lang.Long.toUnsignedString(seed)},\"seq\":${java.lang.Long.toUnsignedString(index)},\"pad\":\""
        val tail = "\"}"
        val padLen = maxOf(0, size - head.length - tail.length)
        val b = StringBuilder(head.length + padLen + tail.length)
        b.append(head)
        pad(b, seed, index, padLen)
        b.append(tail)
        return b.toString()
    }

    /** Proto record: field 1 seed, field 2 seq (varints), field 3 pad, at most [size] bytes. */
    fun proto(seed: Long, index: Long, size: Int): ByteArray {
        val out = ByteArrayOutputStream(size + 8)
        out.write(0x08)
        varint(out, seed)
        out.write(0x10)
        varint(out, index)
        val fixed = out.size() + 1
        var padLen = maxOf(0, size - (fixed + 1))
        while (padLen > 0 && fixed + varintLen(padLen.toLong()) + padLen > size) padLen--
        out.write(0x1a)
        varint(out, padLen.toLong())
        val pad = StringBuilder(padLen)
        pad(pad, seed, index, padLen)
        out.write(pad.toString().toByteArray(Charsets.US_ASCII))
        return out.toByteArray()
    }

    private fun pad(out: StringBuilder, seed: Long, index: Long, len: Int) {
        var x = seed * -0x61c8864680b583ebL + index + 1 // 0x9E3779B97F4A7C15, wrapping
        repeat(len) {
            x = x xor (x shl 13)
            x = x xor (x ushr 7)
            x = x xor (x shl 17)
            out.append('a' + java.lang.Long.remainderUnsigned(x, 26).toInt())
        }
    }

    private fun varint(out: ByteArrayOutputStream, value: Long) {
        var v = value
        while (java.lang.Long.compareUnsigned(v, 0x80) >= 0) {
            out.write((v and 0x7f).toInt() or 0x80)
            v = v ushr 7
        }
        out.write(v.toInt())
    }

    private fun varintLen(value: Long): Int {
        var v = value
        var n = 1
        while (java.lang.Long.compareUnsigned(v, 0x80) >= 0) {
            v = v ushr 7
            n++
        }
        return n
    }
}
