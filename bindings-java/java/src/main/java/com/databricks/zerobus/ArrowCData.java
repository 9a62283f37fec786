package com.databricks.zerobus;

import org.apache.arrow.c.ArrowArray;
import org.apache.arrow.c.ArrowSchema;
import org.apache.arrow.c.Data;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * The Arrow Java side of {@link ZerobusArrowStream#ingestBatch}: exports a
 * {@code VectorSchemaRoot} to the two C Data Interface structs and hands their addresses to the
 * library. Kept apart so only this class refers to Arrow Java (an optional dependency).
 */
final class ArrowCData {
    private ArrowCData() {}

    static long ingest(ZerobusArrowStream stream, VectorSchemaRoot root) throws ZerobusException {
        if (root.getFieldVectors().isEmpty()) {
            throw new NonRetriableException(ErrorCode.INVALID_ARGUMENT,
                    "the VectorSchemaRoot has no columns; a batch needs the stream's columns");
        }
        FieldVector first = root.getFieldVectors().get(0);
        BufferAllocator allocator = first.getAllocator();
        try (ArrowArray array = ArrowArray.allocateNew(allocator);
                ArrowSchema schema = ArrowSchema.allocateNew(allocator)) {
            Data.exportVectorSchemaRoot(allocator, root, null, array, schema);
            // The library takes both exports whatever the outcome and releases them before it
            // returns (leaving the structs marked released); closing here frees only the structs.
            return stream.ingestCData(array.memoryAddress(), schema.memoryAddress());
        }
    }
}
