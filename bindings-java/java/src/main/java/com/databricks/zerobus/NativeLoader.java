package com.databricks.zerobus;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads the JNI shim (which contains libzerobus) from the jar: the resource
 * {@code native/<os>-<arch>/libzerobus_jni.so} is extracted to the directory named by the system
 * property {@value #DIR_PROPERTY} (default: a new temporary directory) and loaded from there.
 */
public final class NativeLoader {
    /** System property: directory the native library is extracted to. */
    public static final String DIR_PROPERTY = "zerobus.native.dir";

    private static volatile boolean loaded;

    private NativeLoader() {}

    /** The platform directory inside the jar, e.g. {@code linux-x86_64}. */
    public static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.contains("linux") ? "linux" : os.contains("mac") || os.contains("darwin") ? "osx"
                : os.contains("windows") ? "windows" : os.replace(' ', '_');
        String a = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64"
                : arch.equals("aarch64") || arch.equals("arm64") ? "aarch64" : arch;
        return o + "-" + a;
    }

    /** The library's file name on this OS. */
    public static String libraryFileName() {
        return System.mapLibraryName("zerobus_jni");
    }

    /** The resource path of the library for this platform. */
    public static String resourcePath() {
        return "native/" + platform() + "/" + libraryFileName();
    }

    /** Loads the library once; later calls return at once. */
    public static synchronized void load() {
        if (loaded) {
            return;
        }
        String resource = resourcePath();
        Path file;
        try (InputStream in = NativeLoader.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new UnsatisfiedLinkError("zerobus: the jar has no native library for this platform ("
                        + resource + " is missing from the classpath). Supported: the platforms the jar was built"
                        + " on; build the SDK on this platform (bindings-java: mvn package) to get one.");
            }
            String dir = System.getProperty(DIR_PROPERTY);
            Path target = dir != null && !dir.isEmpty() ? Paths.get(dir) : Files.createTempDirectory("zerobus-native");
            Files.createDirectories(target);
            // A unique name per JVM: never overwrite a library another process has mapped.
            file = Files.createTempFile(target, "libzerobus_jni-", "-" + libraryFileName());
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            if (dir == null || dir.isEmpty()) {
                file.toFile().deleteOnExit();
                target.toFile().deleteOnExit();
            } else {
                file.toFile().deleteOnExit();
            }
        } catch (IOException e) {
            UnsatisfiedLinkError err = new UnsatisfiedLinkError("zerobus: cannot extract the native library "
                    + resource + " (" + e + "). Set -D" + DIR_PROPERTY
                    + "=<a writable directory on a filesystem that allows executables> and retry.");
            err.initCause(e);
            throw err;
        }
        try {
            System.load(file.toAbsolutePath().toString());
        } catch (UnsatisfiedLinkError e) {
            UnsatisfiedLinkError err = new UnsatisfiedLinkError("zerobus: cannot load the native library extracted to "
                    + file + ": " + e.getMessage() + ". If the directory is mounted noexec, set -D" + DIR_PROPERTY
                    + "=<a directory that allows executables>; if a symbol or GLIBC version is missing, the jar"
                    + " was built for another system: rebuild it here (bindings-java: mvn package).");
            err.initCause(e);
            throw err;
        }
        loaded = true;
    }

    /** The version of the loaded libzerobus. */
    public static String libraryVersion() {
        load();
        return NativeBindings.version();
    }
}
