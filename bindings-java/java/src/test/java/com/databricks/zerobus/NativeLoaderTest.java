package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLoaderTest {
    @Test
    void theLibraryForThisPlatformIsAResource() {
        assertEquals("native/" + NativeLoader.platform() + "/" + System.mapLibraryName("zerobus_jni"),
                NativeLoader.resourcePath());
        assertNotNull(NativeLoader.class.getClassLoader().getResource(NativeLoader.resourcePath()),
                "missing " + NativeLoader.resourcePath() + ": the build did not package the JNI shim");
    }

    @Test
    void loadsAndReportsTheLibraryVersion() {
        NativeLoader.load();
        NativeLoader.load(); // idempotent
        String v = ZerobusSdk.libraryVersion();
        assertFalse(v.isEmpty());
        assertTrue(v.matches("\\d+\\.\\d+\\.\\d+.*"), v);
    }

    /** A fresh JVM with no environment variables extracts into -Dzerobus.native.dir and loads. */
    @Test
    void extractsToTheDirectoryTheUserChooses(@TempDir Path dir) throws Exception {
        Path nativeDir = dir.resolve("native libs");
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-D" + NativeLoader.DIR_PROPERTY + "=" + nativeDir);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(PrintVersion.class.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().clear();
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("version=" + ZerobusSdk.libraryVersion()), out);
        assertTrue(out.contains("extracted=1"), out);
    }

    @Test
    void anUnusableDirectoryGivesAnErrorThatSaysWhatToDo(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("a-file");
        Files.writeString(file, "not a directory");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-D" + NativeLoader.DIR_PROPERTY + "=" + file.resolve("sub"), "-cp",
                System.getProperty("java.class.path"), PrintVersion.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(3, p.exitValue(), out);
        assertTrue(out.contains("cannot extract the native library"), out);
        assertTrue(out.contains("-D" + NativeLoader.DIR_PROPERTY), out);
    }

    /** Run in a child JVM by the tests above. */
    public static final class PrintVersion {
        public static void main(String[] args) throws Exception {
            try {
                System.out.println("version=" + ZerobusSdk.libraryVersion());
            } catch (UnsatisfiedLinkError e) {
                System.out.println(e.getMessage());
                System.exit(3);
            }
            String dir = System.getProperty(NativeLoader.DIR_PROPERTY);
            try (Stream<Path> files = Files.list(new File(dir).toPath())) {
                System.out.println("extracted=" + files.filter(f -> f.getFileName().toString().contains("zerobus_jni")).count());
            }
        }
    }
}
