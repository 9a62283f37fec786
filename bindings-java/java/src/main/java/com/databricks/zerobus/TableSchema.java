package com.databricks.zerobus;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * A table's schema, read from Unity Catalog ({@link ZerobusSdk#getTableSchema(String, String, String)})
 * or kept by a stream created from its table ({@link ZerobusStream#getTableSchema()}), with what
 * the library derives from it by PROTOCOL.md §7's mapping (Delta → proto2: field number =
 * position + 1, NOT NULL → required, STRUCT → nested message, ARRAY → repeated, MAP → map).
 * Immutable.
 */
public final class TableSchema {
    private final String fullName;
    private final List<Column> columns;
    private final String ucJson;
    private final byte[] descriptor;
    private final String descriptorError;
    private final String protoFile;
    private final String protoFileError;

    /** One column of a table, as Unity Catalog describes it. Immutable. */
    public static final class Column {
        private final String name;
        private final String typeText;
        private final boolean nullable;
        private final int position;

        Column(String name, String typeText, boolean nullable, int position) {
            this.name = name;
            this.typeText = typeText;
            this.nullable = nullable;
            this.position = position;
        }

        public String getName() {
            return name;
        }

        /**
         * The SQL type as Unity Catalog's {@code type_text} spells it: {@code bigint},
         * {@code decimal(10,2)}, {@code array<string>}, {@code struct<lat:double,lon:double>}.
         */
        public String getTypeText() {
            return typeText;
        }

        /** Whether the column may be null ({@code false} for {@code NOT NULL}). */
        public boolean isNullable() {
            return nullable;
        }

        /** Zero-based position in the table; the column's proto field number is {@code position + 1}. */
        public int getPosition() {
            return position;
        }

        @Override
        public String toString() {
            return name + " " + typeText + (nullable ? "" : " not null");
        }
    }

    /**
     * From the JNI shim's answer: {json, descriptor | null, descriptor error | null, .proto | null,
     * .proto error | null, names, types, nullable, positions}, strings as UTF-8 bytes.
     */
    static TableSchema fromNative(String fullName, Object[] n) {
        byte[][] names = (byte[][]) n[5];
        byte[][] types = (byte[][]) n[6];
        boolean[] nullable = (boolean[]) n[7];
        long[] positions = (long[]) n[8];
        List<Column> columns = new ArrayList<>(names.length);
        for (int i = 0; i < names.length; i++) {
            columns.add(new Column(utf8(names[i]), utf8(types[i]), nullable[i], (int) positions[i]));
        }
        return new TableSchema(fullName, Collections.unmodifiableList(columns), utf8((byte[]) n[0]), (byte[]) n[1],
                utf8((byte[]) n[2]), utf8((byte[]) n[3]), utf8((byte[]) n[4]));
    }

    private static String utf8(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    private TableSchema(String fullName, List<Column> columns, String ucJson, byte[] descriptor,
            String descriptorError, String protoFile, String protoFileError) {
        this.fullName = fullName;
        this.columns = columns;
        this.ucJson = ucJson;
        this.descriptor = descriptor;
        this.descriptorError = descriptorError;
        this.protoFile = protoFile;
        this.protoFileError = protoFileError;
    }

    /** The table's {@code catalog.schema.table} name, as it was asked for. */
    public String getFullName() {
        return fullName;
    }

    /** The columns in position order. */
    public List<Column> getColumns() {
        return columns;
    }

    /** The column called {@code name} (Delta compares column names case-insensitively). */
    public Optional<Column> getColumn(String name) {
        return columns.stream().filter(c -> c.name.equalsIgnoreCase(name)).findFirst();
    }

    /** The table as Unity Catalog's REST API describes it (JSON text). */
    public String getUcJson() {
        return ucJson;
    }

    /**
     * The record message's serialized {@code google.protobuf.DescriptorProto}: what a stream
     * created from the table is opened with ({@code DescriptorProtos.DescriptorProto.parseFrom}
     * reads it). A copy.
     *
     * @throws ZerobusException {@link ErrorCode#INVALID_ARGUMENT} if a column has no proto2 form
     */
    public byte[] getDescriptorProto() throws ZerobusException {
        if (descriptor == null) {
            throw new NonRetriableException(ErrorCode.INVALID_ARGUMENT,
                    descriptorError != null ? descriptorError : "no descriptor");
        }
        return descriptor.clone();
    }

    /**
     * The record message as {@code .proto} (proto2) source, as {@code zerobus schema} prints it.
     *
     * @throws ZerobusException {@link ErrorCode#INVALID_ARGUMENT} if a column has no proto2 form or
     *     its name is no proto identifier
     */
    public String getProtoFile() throws ZerobusException {
        if (protoFile == null) {
            throw new NonRetriableException(ErrorCode.INVALID_ARGUMENT,
                    protoFileError != null ? protoFileError : "no .proto source");
        }
        return protoFile;
    }

    @Override
    public String toString() {
        return "TableSchema(" + fullName + ": " + columns + ")";
    }
}
