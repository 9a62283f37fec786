package com.databricks.zerobus.kotlin

import com.sun.jna.Callback
import com.sun.jna.CallbackThreadInitializer
import com.sun.jna.Native
import java.io.IOException
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.nio.file.StandardCopyOption
import java.util.Locale

/**
 * Loads the uniffi library of the Kotlin SDK from the jar: the resource
 * `native/<os>-<arch>/libzerobus_uniffi.so` is extracted to the directory named by the system
 * property [DIR_PROPERTY] (default: a new temporary directory), and the generated bindings are
 * pointed at it through `uniffi.component.zerobus_uniffi.libraryOverride`. No environment
 * variable is needed. Every public entry point calls [load] first.
 */
object NativeLoader {
    /** System property: directory the native library is extracted to. */
    const val DIR_PROPERTY: String = "zerobus.native.dir"

    /** The property the generated bindings read for the library path. */
    const val OVERRIDE_PROPERTY: String = "uniffi.component.zerobus_uniffi.libraryOverride"

    @Volatile private var loaded: Path? = null

    /** The platform directory inside the jar, e.g. `linux-x86_64`. */
    @JvmStatic
    fun platform(): String {
        val os = System.getProperty("os.name", "").lowercase(Locale.ROOT)
        val arch = System.getProperty("os.arch", "").lowercase(Locale.ROOT)
        val o = when {
            os.contains("linux") -> "linux"
            os.contains("mac") || os.contains("darwin") -> "osx"
            os.contains("windows") -> "windows"
            else -> os.replace(' ', '_')
        }
        val a = when (arch) {
            "amd64", "x86_64" -> "x86_64"
            "aarch64", "arm64" -> "aarch64"
            else -> arch
        }
        return "$o-$a"
    }

    /** The resource path of the library for this platform. */
    @JvmStatic
    fun resourcePath(): String = "native/${platform()}/${System.mapLibraryName("zerobus_uniffi")}"

    /** Extracts and loads the library once; returns the extracted file. */
    @JvmStatic
    @Synchronized
    fun load(): Path {
        loaded?.let { return it }
        val resource = resourcePath()
        val file: Path
        try {
            val input = NativeLoader::class.java.classLoader.getResourceAsStream(resource)
                ?: throw UnsatisfiedLinkError(
                    "zerobus: the jar has no native library for this platform ($resource is missing from the " +
                        "classpath). Build the Kotlin SDK on this platform (bindings-java: mvn package) to get one.",
                )
            input.use {
                val dir = System.getProperty(DIR_PROPERTY)
                val target = if (!dir.isNullOrEmpty()) Paths.get(dir) else Files.createTempDirectory("zerobus-kotlin-native")
                Files.createDirectories(target)
                // A unique name per JVM: never overwrite a library another process has mapped.
                file = Files.createTempFile(target, "zerobus_uniffi-", "-" + System.mapLibraryName("zerobus_uniffi"))
                Files.copy(it, file, StandardCopyOption.REPLACE_EXISTING)
                file.toFile().deleteOnExit()
                if (dir.isNullOrEmpty()) target.toFile().deleteOnExit()
            }
        } catch (e: IOException) {
            throw UnsatisfiedLinkError(
                "zerobus: cannot extract the native library $resource ($e). Set -D$DIR_PROPERTY=<a writable " +
                    "directory on a filesystem that allows executables> and retry.",
            ).apply { initCause(e) }
        }
        System.setProperty(OVERRIDE_PROPERTY, file.toAbsolutePath().toString())
        try {
            // Forces the generated bindings to load (and checksum) the library now.
            com.databricks.zerobus.kotlin.ffi.errorCodes()
        } catch (e: Throwable) {
            if (e is ZerobusException) throw e
            throw UnsatisfiedLinkError(
                "zerobus: cannot load the native library extracted to $file: ${e.message ?: e}. If the directory " +
                    "is mounted noexec, set -D$DIR_PROPERTY=<a directory that allows executables>; if a symbol or " +
                    "GLIBC version is missing, the jar was built for another system: rebuild it here " +
                    "(bindings-java: mvn package).",
            ).apply { initCause(e) }
        }
        try {
            // The same file again, for the JVM this time: binds NativeIngest's JNI functions.
            System.load(file.toAbsolutePath().toString())
        } catch (e: UnsatisfiedLinkError) {
            throw UnsatisfiedLinkError("zerobus: cannot bind the native ingest functions in $file: ${e.message}")
                .apply { initCause(e) }
        }
        keepCallbackThreadsAttached()
        loaded = file
        return file
    }

    /**
     * The core calls back (future wake-ups, acks, headers) from its own long-lived threads. By
     * default JNA attaches such a thread to the JVM for one callback and detaches it after; here
     * each is attached once, as a daemon, and stays attached until it exits.
     */
    private fun keepCallbackThreadsAttached() {
        val init = CallbackThreadInitializer(true, false, "zerobus-native")
        val callbacks: List<Callback> = listOf(
            com.databricks.zerobus.kotlin.ffi.uniffiRustFutureContinuationCallbackImpl,
            com.databricks.zerobus.kotlin.ffi.uniffiCallbackInterfaceFfiAckListener.onAck,
            com.databricks.zerobus.kotlin.ffi.uniffiCallbackInterfaceFfiAckListener.onError,
            com.databricks.zerobus.kotlin.ffi.uniffiCallbackInterfaceFfiHeadersProvider.getHeaders,
        )
        for (cb in callbacks) Native.setCallbackThreadInitializer(cb, init)
    }
}
