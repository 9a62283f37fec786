package com.databricks.zerobus;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.ref.Reference;
import java.nio.channels.Channels;
import java.util.List;
import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.WriteChannel;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.TransferPair;

/**
 * The Arrow Java side of {@link ZerobusArrowStream#ingestBatch}. Kept apart so only this class
 * refers to Arrow Java (an optional dependency).
 *
 * <p>A root whose vectors all have layouts the library reads in place (primitive, boolean,
 * decimal, fixed-size binary, (large) binary and string, (large) list, map, struct) crosses as
 * its buffers' addresses and lengths in one native call ({@code zerobus_arrow_stream_ingest_columns}):
 * no C Data export, whose per-call allocations cost about a third of the library's own time per
 * batch (the bench's 10,000 taxi rows). Any other root goes through the C Data Interface.
 */
final class ArrowCData {
    private ArrowCData() {}

    static long ingest(ZerobusArrowStream stream, VectorSchemaRoot root) throws ZerobusException {
        List<FieldVector> vectors = root.getFieldVectors();
        if (vectors.isEmpty()) {
            throw new NonRetriableException(ErrorCode.INVALID_ARGUMENT,
                    "the VectorSchemaRoot has no columns; a batch needs the stream's columns");
        }
        Columns columns = new Columns();
        columns.node(root.getRowCount(), 0);
        if (columns.addAll(vectors)) {
            try {
                return stream.ingestColumns(schemaIpc(stream, root.getSchema()), columns.nodes(),
                        columns.addresses(), columns.lengths());
            } finally {
                // The addresses are root's buffers: keep it (and so them) until the call is done.
                Reference.reachabilityFence(root);
            }
        }
        return exportAndIngest(stream, root, vectors.get(0).getAllocator());
    }

    /**
     * {@link ZerobusArrowStream#ingestBatchTransfer}: the root's vectors are transferred to new
     * ones that only the stream holds (closed by the library once the rows are acked), and the
     * call is made over their buffers; the root is left empty whatever the outcome.
     */
    static long ingestTransfer(ZerobusArrowStream stream, VectorSchemaRoot root) throws ZerobusException {
        List<FieldVector> vectors = root.getFieldVectors();
        int rows = root.getRowCount();
        boolean inPlace = !vectors.isEmpty();
        for (FieldVector v : vectors) {
            inPlace &= Layout.readsInPlace(v);
        }
        if (!inPlace) {
            try {
                return ingest(stream, root);
            } finally {
                root.clear();
            }
        }
        byte[] schema = schemaIpc(stream, root.getSchema());
        Moved moved = new Moved(vectors.size());
        try {
            for (FieldVector v : vectors) {
                TransferPair pair = v.getTransferPair(v.getAllocator());
                pair.transfer();
                moved.add((FieldVector) pair.getTo());
            }
        } catch (RuntimeException e) {
            moved.close();
            throw e;
        } finally {
            root.setRowCount(0);
        }
        Columns columns = new Columns();
        columns.node(rows, 0);
        if (!columns.addAll(moved.vectors)) {
            moved.close();
            throw new NonRetriableException(ErrorCode.INTERNAL,
                    "a transferred vector changed its layout; please report it");
        }
        // From here the library owns `moved`: it closes it exactly once, whatever the outcome.
        return stream.ingestColumnsNoCopy(schema, columns.nodes(), columns.addresses(), columns.lengths(), moved);
    }

    /** Vectors transferred out of a caller's root, closed (their buffers released) by the library. */
    private static final class Moved implements AutoCloseable {
        final List<FieldVector> vectors;

        Moved(int n) {
            vectors = new java.util.ArrayList<>(n);
        }

        void add(FieldVector v) {
            vectors.add(v);
        }

        @Override
        public void close() {
            for (FieldVector v : vectors) {
                v.close();
            }
        }
    }

    /** The C Data Interface path, for layouts {@link Columns} does not take. */
    private static long exportAndIngest(ZerobusArrowStream stream, VectorSchemaRoot root, BufferAllocator allocator)
            throws ZerobusException {
        try (ArrowArray array = ArrowArray.allocateNew(allocator);
                ArrowSchema schema = ArrowSchema.allocateNew(allocator)) {
            Data.exportVectorSchemaRoot(allocator, root, null, array, schema);
            // The library takes both exports whatever the outcome and releases them before it
            // returns (leaving the structs marked released); closing here frees only the structs.
            return stream.ingestCData(array.memoryAddress(), schema.memoryAddress());
        }
    }

    /** {@code schema} as an IPC schema message, written once per distinct schema in a row. */
    private static byte[] schemaIpc(ZerobusArrowStream stream, Schema schema) throws ZerobusException {
        Object[] last = stream.lastSchema;
        // Roots read from one source have equal schemas, not one: compare by value after identity.
        if (last != null && (last[0] == schema || last[0].equals(schema))) {
            return (byte[]) last[1];
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            MessageSerializer.serialize(new WriteChannel(Channels.newChannel(out)), schema);
        } catch (IOException e) {
            throw new NonRetriableException(ErrorCode.INVALID_RECORD,
                    "the batch's schema cannot be written as Arrow IPC (" + e.getMessage() + ")");
        }
        byte[] bytes = out.toByteArray();
        stream.lastSchema = new Object[] {schema, bytes};
        return bytes;
    }

    /**
     * The nodes and buffers of one batch, depth first: per node its length and null count, and
     * its validity, offsets and values buffers (address 0, length 0 where its type has none).
     */
    private static final class Columns {
        private long[] nodes = new long[64];
        private long[] addresses = new long[96];
        private long[] lengths = new long[96];
        private int nodeCount;
        private int bufferCount;

        /** Adds every vector; false as soon as one has a layout this does not take. */
        boolean addAll(List<FieldVector> vectors) {
            for (FieldVector v : vectors) {
                if (!add(v)) {
                    return false;
                }
            }
            return true;
        }

        private boolean add(FieldVector v) {
            Layout layout = Layout.of(v);
            if (layout == null) {
                return false;
            }
            // getFieldBuffers sets each buffer's writer index to what the value count uses, as
            // Arrow Java's own IPC writer relies on; readableBytes() is then that length.
            List<ArrowBuf> buffers = v.getFieldBuffers();
            if (buffers.size() != layout.buffers) {
                return false;
            }
            node(v.getValueCount(), v.getNullCount());
            buffer(buffers.get(0));
            buffer(layout.offsets ? buffers.get(1) : null);
            buffer(layout.values ? buffers.get(buffers.size() - 1) : null);
            return !layout.children || addAll(v.getChildrenFromFields());
        }

        void node(long length, long nullCount) {
            if (2 * nodeCount + 2 > nodes.length) {
                nodes = java.util.Arrays.copyOf(nodes, nodes.length * 2);
            }
            nodes[2 * nodeCount] = length;
            nodes[2 * nodeCount + 1] = nullCount;
            nodeCount++;
            if (nodeCount == 1) {
                // The root node has no buffers of its own.
                buffer(null);
                buffer(null);
                buffer(null);
            }
        }

        private void buffer(ArrowBuf b) {
            if (bufferCount == addresses.length) {
                addresses = java.util.Arrays.copyOf(addresses, addresses.length * 2);
                lengths = java.util.Arrays.copyOf(lengths, lengths.length * 2);
            }
            long length = b == null ? 0 : b.readableBytes();
            addresses[bufferCount] = length == 0 ? 0 : b.memoryAddress() + b.readerIndex();
            lengths[bufferCount] = length;
            bufferCount++;
        }

        long[] nodes() {
            return java.util.Arrays.copyOf(nodes, 2 * nodeCount);
        }

        long[] addresses() {
            return java.util.Arrays.copyOf(addresses, bufferCount);
        }

        long[] lengths() {
            return java.util.Arrays.copyOf(lengths, bufferCount);
        }
    }

    /** Which of a node's three buffers its type has, and whether it has children. */
    private enum Layout {
        FIXED(2, false, true, false),
        VARIABLE(3, true, true, false),
        LIST(2, true, false, true),
        STRUCT(1, false, false, true);

        /** How many buffers {@code getFieldBuffers} returns: validity first, then these. */
        final int buffers;
        final boolean offsets;
        final boolean values;
        final boolean children;

        Layout(int buffers, boolean offsets, boolean values, boolean children) {
            this.buffers = buffers;
            this.offsets = offsets;
            this.values = values;
            this.children = children;
        }

        /** Whether {@code v} and all its children have layouts the library reads in place. */
        static boolean readsInPlace(FieldVector v) {
            Layout layout = of(v);
            if (layout == null || v.getFieldBuffers().size() != layout.buffers) {
                return false;
            }
            if (layout.children) {
                for (FieldVector child : v.getChildrenFromFields()) {
                    if (!readsInPlace(child)) {
                        return false;
                    }
                }
            }
            return true;
        }

        /** The layout of {@code v}'s type, or null for one the library does not read in place. */
        static Layout of(FieldVector v) {
            if (v.getField().getDictionary() != null) {
                return null;
            }
            switch (v.getField().getType().getTypeID()) {
                case Int:
                case FloatingPoint:
                case Bool:
                case Date:
                case Time:
                case Timestamp:
                case Duration:
                case Decimal:
                case FixedSizeBinary:
                    return FIXED;
                case Utf8:
                case LargeUtf8:
                case Binary:
                case LargeBinary:
                    return VARIABLE;
                case List:
                case LargeList:
                case Map:
                    return LIST;
                case Struct:
                    return STRUCT;
                default:
                    return null;
            }
        }
    }
}
