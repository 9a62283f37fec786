package com.databricks.zerobus.kotlin

import org.junit.jupiter.api.Assertions.fail
import java.nio.file.Files
import java.nio.file.Paths
import java.util.concurrent.TimeUnit

/**
 * A `zerobus serve --exit-on-stdin-close` process (plus [args], e.g. `--table 'main.default.t(id BIGINT)'`);
 * a missing binary fails the test (never a skip).
 */
internal class Serve(vararg args: String) : AutoCloseable {
    val env = HashMap<String, String>()
    val process: Process

    init {
        val root = Paths.get(System.getProperty("zerobus.root", "../.."))
        val bin = root.resolve("target/debug/zerobus")
        if (!Files.isExecutable(bin)) {
            fail<Unit>("the zerobus CLI is missing at $bin: build it with `cargo build -p zerobus-cli` (make kotlin-test does)")
        }
        process = ProcessBuilder(listOf(bin.toString(), "serve", "--exit-on-stdin-close") + args)
            .redirectError(ProcessBuilder.Redirect.INHERIT).start()
        val out = process.inputStream.bufferedReader()
        while (env.size < 4) {
            val line = out.readLine() ?: break
            val eq = line.indexOf('=')
            if (line.startsWith("ZEROBUS_") && eq > 0 && !line.startsWith("ZEROBUS_TABLES=")) {
                env[line.substring(0, eq)] = line.substring(eq + 1)
            }
        }
        if (env.size < 4) {
            close()
            fail<Unit>("zerobus serve did not print its settings: $env")
        }
        Thread { runCatching { out.transferTo(java.io.Writer.nullWriter()) } }.apply { isDaemon = true }.start()
    }

    fun sdk() = ZerobusSdk(env.getValue("ZEROBUS_ENDPOINT"), env.getValue("ZEROBUS_WORKSPACE_URL"))

    override fun close() {
        process.outputStream.close()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
    }

    fun clientId(): String = env.getValue("ZEROBUS_CLIENT_ID")

    fun clientSecret(): String = env.getValue("ZEROBUS_CLIENT_SECRET")
}
