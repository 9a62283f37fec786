package com.databricks.zerobus;

import com.google.protobuf.Descriptors;
import java.lang.ref.Cleaner;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * One SDK per Zerobus endpoint; streams created from it share its token cache. Thread-safe.
 * Closing the SDK does not close its streams (they stay usable).
 *
 * <pre>{@code
 * try (ZerobusSdk sdk = new ZerobusSdk(endpoint, workspaceUrl);
 *      ZerobusStream stream = sdk.createJsonStream(table, clientId, clientSecret).join()) {
 *     long offset = stream.ingestRecordOffset("{\"id\":1}");
 *     stream.waitForOffset(offset);
 * }
 * }</pre>
 */
public final class ZerobusSdk implements AutoCloseable {
    /** The user-agent name this binding reports. */
    public static final String SDK_NAME = "zerobus-sdk-java/0.1.0";

    static final Cleaner CLEANER = Cleaner.create();

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Handle handle;
    private final Cleaner.Cleanable cleanable;
    private final Executor executor;
    private final ExecutorService ownedExecutor;

    /** Owns the native SDK handle; run by close() or by the Cleaner. */
    private static final class Handle implements Runnable {
        long sdk;

        Handle(long sdk) {
            this.sdk = sdk;
        }

        @Override
        public synchronized void run() {
            NativeBindings.sdkFree(sdk);
            sdk = 0;
        }
    }

    /**
     * An SDK for {@code serverEndpoint} (https://…, or an explicit http:// for a local plaintext
     * server) whose OAuth tokens come from {@code unityCatalogEndpoint} (the workspace URL).
     */
    public ZerobusSdk(String serverEndpoint, String unityCatalogEndpoint) throws ZerobusException {
        this(builder(serverEndpoint, unityCatalogEndpoint));
    }

    private ZerobusSdk(Builder b) throws ZerobusException {
        long h = NativeBindings.sdkNew(NativeBindings.cstr(b.endpoint), NativeBindings.cstr(b.workspaceUrl),
                NativeBindings.cstr(SDK_NAME), NativeBindings.cstr(b.applicationName), b.caPem);
        this.handle = new Handle(h);
        this.cleanable = CLEANER.register(this, handle);
        if (b.executor != null) {
            this.executor = b.executor;
            this.ownedExecutor = null;
        } else {
            AtomicInteger n = new AtomicInteger();
            ThreadFactory tf = r -> {
                Thread t = new Thread(r, "zerobus-create-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            };
            this.ownedExecutor = Executors.newCachedThreadPool(tf);
            this.executor = ownedExecutor;
        }
    }

    /** A builder for the settings the constructor does not take. */
    public static Builder builder(String serverEndpoint, String unityCatalogEndpoint) {
        return new Builder(serverEndpoint, unityCatalogEndpoint);
    }

    /** The version of the native library. */
    public static String libraryVersion() {
        return NativeLoader.libraryVersion();
    }

    /** Opens a JSON stream authenticated with OAuth client credentials, with the default options. */
    public CompletableFuture<ZerobusStream> createJsonStream(String tableName, String clientId, String clientSecret) {
        return createJsonStream(tableName, clientId, clientSecret, StreamConfigurationOptions.getDefault());
    }

    /** Opens a JSON stream authenticated with OAuth client credentials. */
    public CompletableFuture<ZerobusStream> createJsonStream(String tableName, String clientId, String clientSecret,
            StreamConfigurationOptions options) {
        return async(() -> create(tableName, null, clientId, clientSecret, null, options, RecordType.JSON));
    }

    /** Opens a JSON stream whose call metadata comes from {@code headersProvider}. */
    public CompletableFuture<ZerobusStream> createJsonStream(String tableName, HeadersProvider headersProvider,
            StreamConfigurationOptions options) {
        Objects.requireNonNull(headersProvider, "headersProvider");
        return async(() -> create(tableName, null, null, null, headersProvider, options, RecordType.JSON));
    }

    /**
     * Opens a proto stream; {@code descriptorProto} is the serialized
     * {@code google.protobuf.DescriptorProto} of the records (null or empty: the stream is
     * created from the table, see {@link #createStreamFromTable(String, String, String)}).
     */
    public CompletableFuture<ZerobusStream> createProtoStream(String tableName, byte[] descriptorProto,
            String clientId, String clientSecret) {
        return createProtoStream(tableName, descriptorProto, clientId, clientSecret,
                StreamConfigurationOptions.getDefault());
    }

    /** Opens a proto stream with options. */
    public CompletableFuture<ZerobusStream> createProtoStream(String tableName, byte[] descriptorProto,
            String clientId, String clientSecret, StreamConfigurationOptions options) {
        return async(() -> create(tableName, descriptorProto, clientId, clientSecret, null, options, RecordType.PROTO));
    }

    /** Opens a proto stream for records of the message type {@code descriptor}. */
    public CompletableFuture<ZerobusStream> createProtoStream(String tableName, Descriptors.Descriptor descriptor,
            String clientId, String clientSecret, StreamConfigurationOptions options) {
        return createProtoStream(tableName, descriptor.toProto().toByteArray(), clientId, clientSecret, options);
    }

    /**
     * Opens a stream <b>from the table</b>: a PROTO stream whose descriptor the library derives
     * from the table's schema, read from Unity Catalog with the same credentials
     * ({@link ZerobusStream#getTableSchema()} returns it). JSON text ({@code String}) and
     * {@code Map<String, Object>} records given to the stream are encoded to proto in the
     * library by the columns' types; a record that does not fit fails its call with
     * {@link ErrorCode#INVALID_RECORD} naming the record and the column path. An unknown table
     * fails with {@link ErrorCode#NOT_FOUND}. (Also what {@code createProtoStream} does when given
     * a null or empty descriptor.)
     */
    public CompletableFuture<ZerobusStream> createStreamFromTable(String tableName, String clientId,
            String clientSecret) {
        return createStreamFromTable(tableName, clientId, clientSecret, StreamConfigurationOptions.getDefault());
    }

    /** {@link #createStreamFromTable(String, String, String)} with options. */
    public CompletableFuture<ZerobusStream> createStreamFromTable(String tableName, String clientId,
            String clientSecret, StreamConfigurationOptions options) {
        return async(() -> create(tableName, null, clientId, clientSecret, null, options, RecordType.PROTO));
    }

    /**
     * {@link #createStreamFromTable(String, String, String)} with call metadata from
     * {@code headersProvider}; its {@code authorization} header also reads the table's schema.
     */
    public CompletableFuture<ZerobusStream> createStreamFromTable(String tableName, HeadersProvider headersProvider,
            StreamConfigurationOptions options) {
        Objects.requireNonNull(headersProvider, "headersProvider");
        return async(() -> create(tableName, null, null, null, headersProvider, options, RecordType.PROTO));
    }

    /**
     * Reads {@code tableName}'s schema from Unity Catalog
     * ({@code GET {workspace}/api/2.1/unity-catalog/tables/{tableName}}) with OAuth client
     * credentials, the token a stream on the table uses; runs on the SDK's executor. Fails with
     * {@link ErrorCode#NOT_FOUND} for an unknown table, {@link ErrorCode#UNAUTHENTICATED} /
     * {@link ErrorCode#PERMISSION_DENIED} when the credentials do not reach it.
     */
    public CompletableFuture<TableSchema> getTableSchema(String tableName, String clientId, String clientSecret) {
        return async(() -> tableSchema(tableName, clientId, clientSecret, null));
    }

    /** {@link #getTableSchema(String, String, String)} with the {@code authorization} header of {@code headersProvider}. */
    public CompletableFuture<TableSchema> getTableSchema(String tableName, HeadersProvider headersProvider) {
        Objects.requireNonNull(headersProvider, "headersProvider");
        return async(() -> tableSchema(tableName, null, null, headersProvider));
    }

    private TableSchema tableSchema(String table, String clientId, String clientSecret, HeadersProvider provider)
            throws ZerobusException {
        lock.readLock().lock();
        try {
            synchronized (handle) {
                if (handle.sdk == 0) {
                    throw new NonRetriableException(ErrorCode.INVALID_ARGUMENT, "the ZerobusSdk is closed");
                }
            }
            Object[] n = NativeBindings.getTableSchema(handle.sdk, NativeBindings.cstr(table),
                    NativeBindings.cstr(clientId), NativeBindings.cstr(clientSecret),
                    provider != null ? new HeadersBridge(provider) : null);
            return TableSchema.fromNative(table, n);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Opens a proto stream whose call metadata comes from {@code headersProvider}. */
    public CompletableFuture<ZerobusStream> createProtoStream(String tableName, byte[] descriptorProto,
            HeadersProvider headersProvider, StreamConfigurationOptions options) {
        Objects.requireNonNull(headersProvider, "headersProvider");
        return async(() -> create(tableName, descriptorProto, null, null, headersProvider, options, RecordType.PROTO));
    }

    /**
     * Opens an Arrow stream (Arrow Flight) on {@code tableName} authenticated with OAuth client
     * credentials, with the default options. {@code schemaIpc} is the batches' schema as an Arrow
     * IPC stream (its schema message; batches after it are ignored), e.g. what Arrow Java's
     * {@code ArrowStreamWriter} writes after {@code start()}; null or empty reads the schema
     * from the table (STRING → {@code LargeUtf8}, INT → {@code Int32}, …). A schema that is not
     * Arrow IPC, or that the server refuses, fails with {@link ErrorCode#INVALID_ARGUMENT}; an
     * unknown table with {@link ErrorCode#NOT_FOUND}.
     */
    public CompletableFuture<ZerobusArrowStream> createArrowStream(String tableName, byte[] schemaIpc,
            String clientId, String clientSecret) {
        return createArrowStream(tableName, schemaIpc, clientId, clientSecret,
                ArrowStreamConfigurationOptions.getDefault());
    }

    /** {@link #createArrowStream(String, byte[], String, String)} with options. */
    public CompletableFuture<ZerobusArrowStream> createArrowStream(String tableName, byte[] schemaIpc,
            String clientId, String clientSecret, ArrowStreamConfigurationOptions options) {
        return async(() -> createArrow(tableName, schemaIpc, clientId, clientSecret, null, options));
    }

    /**
     * {@link #createArrowStream(String, byte[], String, String)} whose call metadata comes from
     * {@code headersProvider} (its {@code authorization} header also reads a table's schema).
     */
    public CompletableFuture<ZerobusArrowStream> createArrowStream(String tableName, byte[] schemaIpc,
            HeadersProvider headersProvider, ArrowStreamConfigurationOptions options) {
        Objects.requireNonNull(headersProvider, "headersProvider");
        return async(() -> createArrow(tableName, schemaIpc, null, null, headersProvider, options));
    }

    /** Opens an Arrow stream on the calling thread (blocks until the server sent its ready signal). */
    ZerobusArrowStream createArrow(String table, byte[] schemaIpc, String clientId, String clientSecret,
            HeadersProvider headersProvider, ArrowStreamConfigurationOptions options) throws ZerobusException {
        ArrowStreamConfigurationOptions o = options != null ? options : ArrowStreamConfigurationOptions.getDefault();
        lock.readLock().lock();
        try {
            synchronized (handle) {
                if (handle.sdk == 0) {
                    throw new NonRetriableException(ErrorCode.INVALID_ARGUMENT, "the ZerobusSdk is closed");
                }
            }
            long[] refs = new long[2];
            long stream = NativeBindings.createArrowStream(handle.sdk, NativeBindings.cstr(table), schemaIpc,
                    NativeBindings.cstr(clientId), NativeBindings.cstr(clientSecret),
                    headersProvider != null ? new HeadersBridge(headersProvider) : null, o.toNative(),
                    o.compressionNative(), o.ackCallback().map(AckBridge::new).orElse(null), refs);
            return new ZerobusArrowStream(stream, refs[0], refs[1], table);
        } finally {
            lock.readLock().unlock();
        }
    }

    @FunctionalInterface
    private interface Blocking<T> {
        T call() throws ZerobusException;
    }

    private <T> CompletableFuture<T> async(Blocking<T> call) {
        try {
            return CompletableFuture.supplyAsync(() -> {
                try {
                    return call.call();
                } catch (ZerobusException e) {
                    throw new CompletionException(e);
                }
            }, executor);
        } catch (RejectedExecutionException e) {
            return CompletableFuture.failedFuture(new NonRetriableException(ErrorCode.INVALID_ARGUMENT,
                    "the ZerobusSdk is closed (or its executor rejected the task: " + e.getMessage() + ")"));
        }
    }

    /**
     * Opens a stream on the calling thread (blocks until the server answered). The
     * {@code CompletableFuture} methods run this on the SDK's executor.
     */
    ZerobusStream create(String table, byte[] descriptor, String clientId, String clientSecret,
            HeadersProvider headersProvider, StreamConfigurationOptions options, RecordType type)
            throws ZerobusException {
        StreamConfigurationOptions o = options != null ? options : StreamConfigurationOptions.getDefault();
        lock.readLock().lock();
        try {
            synchronized (handle) {
                if (handle.sdk == 0) {
                    throw new NonRetriableException(ErrorCode.INVALID_ARGUMENT, "the ZerobusSdk is closed");
                }
            }
            long[] refs = new long[2];
            long stream = NativeBindings.createStream(handle.sdk, NativeBindings.cstr(table), descriptor,
                    NativeBindings.cstr(clientId), NativeBindings.cstr(clientSecret),
                    headersProvider != null ? new HeadersBridge(headersProvider) : null, o.toNative(type),
                    o.ackCallback().map(AckBridge::new).orElse(null), refs);
            ZerobusStream s = new ZerobusStream(stream, refs[0], refs[1], type, table);
            if (type == RecordType.PROTO && (descriptor == null || descriptor.length == 0)) {
                // From the table: keep the schema the library read to open it.
                try {
                    s.setTableSchema(TableSchema.fromNative(table, NativeBindings.streamTableSchema(stream)));
                } catch (ZerobusException | RuntimeException e) {
                    s.free();
                    throw e;
                }
            }
            return s;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Frees the SDK (streams created from it stay usable) and stops its own executor. Idempotent. */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            cleanable.clean();
        } finally {
            lock.writeLock().unlock();
        }
        if (ownedExecutor != null) {
            ownedExecutor.shutdown();
        }
    }

    /** Settings for {@link ZerobusSdk}. */
    public static final class Builder {
        private final String endpoint;
        private final String workspaceUrl;
        private String applicationName;
        private byte[] caPem;
        private Executor executor;

        private Builder(String endpoint, String workspaceUrl) {
            this.endpoint = endpoint;
            this.workspaceUrl = workspaceUrl;
        }

        /** Appends an application name to the user-agent. */
        public Builder applicationName(String name) {
            this.applicationName = name;
            return this;
        }

        /** CA certificates (PEM) to trust besides the system roots. */
        public Builder caPem(byte[] pem) {
            this.caPem = pem == null ? null : pem.clone();
            return this;
        }

        /** Where the blocking stream creation runs (default: the SDK's own daemon threads). */
        public Builder executor(Executor executor) {
            this.executor = executor;
            return this;
        }

        public ZerobusSdk build() throws ZerobusException {
            return new ZerobusSdk(this);
        }
    }
}
