package com.databricks.zerobus;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A `zerobus serve --exit-on-stdin-close [args]` process (the repository's CLI; missing = failure, never a skip). */
final class Serve implements AutoCloseable {
    final Process process;
    final Map<String, String> env = new HashMap<>();

    private Serve(Process process) {
        this.process = process;
    }

    /** Starts the server with extra arguments, e.g. {@code --table 'main.default.t(id BIGINT)'}. */
    static Serve start(String... args) throws Exception {
        Path bin = ZerobusExceptionTest.root().resolve("target/debug/zerobus");
        if (!Files.isExecutable(bin)) {
            fail("the zerobus CLI is missing at " + bin + ": build it with `cargo build -p zerobus-cli`"
                    + " (make java-test does)");
        }
        java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of(bin.toString(), "serve",
                "--exit-on-stdin-close"));
        command.addAll(java.util.List.of(args));
        Serve s = new Serve(new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start());
        BufferedReader out = new BufferedReader(new InputStreamReader(s.process.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while (s.env.size() < 4 && (line = out.readLine()) != null) {
            int eq = line.indexOf('=');
            if (line.startsWith("ZEROBUS_") && eq > 0 && !line.startsWith("ZEROBUS_TABLES=")) {
                s.env.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        if (s.env.size() < 4) {
            s.close();
            fail("zerobus serve did not print its settings: " + s.env);
        }
        Thread drain = new Thread(() -> {
            try {
                out.transferTo(java.io.Writer.nullWriter());
            } catch (Exception e) {
                // the server exited
            }
        });
        drain.setDaemon(true);
        drain.start();
        return s;
    }

    String clientId() {
        return env.get("ZEROBUS_CLIENT_ID");
    }

    String clientSecret() {
        return env.get("ZEROBUS_CLIENT_SECRET");
    }

    ZerobusSdk sdk() throws ZerobusException {
        return new ZerobusSdk(env.get("ZEROBUS_ENDPOINT"), env.get("ZEROBUS_WORKSPACE_URL"));
    }

    @Override
    public void close() throws java.io.IOException {
        process.getOutputStream().close();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
