package com.databricks.zerobus.kotlin

import com.databricks.zerobus.kotlin.ffi.FfiTableSchema

/**
 * One column of a table, as Unity Catalog describes it.
 *
 * @property typeText the SQL type as Unity Catalog's `type_text` spells it: `bigint`,
 *   `decimal(10,2)`, `array<string>`, `struct<lat:double,lon:double>`
 * @property typeName Unity Catalog's `type_name`: `LONG`, `DECIMAL`, `STRUCT`, …
 * @property position zero-based; the column's proto field number is `position + 1`
 */
data class Column(
    val name: String,
    val typeText: String,
    val nullable: Boolean,
    val position: Int,
    val typeName: String,
    val comment: String? = null,
)

/**
 * A table's schema, read from Unity Catalog ([ZerobusSdk.getTableSchema]) or kept by a stream
 * created from its table ([ZerobusStream.tableSchema]), with what the core derives from it by
 * PROTOCOL.md §7's mapping (Delta → proto2: field number = position + 1, NOT NULL → required,
 * STRUCT → nested message, ARRAY → repeated, MAP → map).
 */
class TableSchema internal constructor(ffi: FfiTableSchema) {
    val catalogName: String = ffi.catalog
    val schemaName: String = ffi.schema
    val tableName: String = ffi.name

    /** `catalog.schema.table`. */
    val fullName: String get() = "$catalogName.$schemaName.$tableName"

    /** The columns in position order. */
    val columns: List<Column> = ffi.columns.map {
        Column(it.name, it.typeText, it.nullable, it.position.toInt(), it.typeName, it.comment)
    }

    /** The table as Unity Catalog's REST API describes it (JSON text). */
    val ucJson: String = ffi.ucJson

    private val descriptor: ByteArray? = ffi.descriptorProto
    private val descriptorError: String? = ffi.descriptorError
    private val proto: String? = ffi.protoFile
    private val protoError: String? = ffi.protoFileError

    /**
     * The record message's serialized `google.protobuf.DescriptorProto`: what a stream created
     * from the table is opened with (`DescriptorProto.parseFrom(...)` reads it). A copy.
     * @throws ZerobusException.InvalidArgument if a column has no proto2 form
     */
    val descriptorProto: ByteArray
        get() = descriptor?.copyOf() ?: throw ZerobusException.InvalidArgument(descriptorError ?: "no descriptor")

    /**
     * The record message as `.proto` (proto2) source, as `zerobus schema` prints it.
     * @throws ZerobusException.InvalidArgument if a column has no proto2 form or its name is no proto identifier
     */
    val protoFile: String
        get() = proto ?: throw ZerobusException.InvalidArgument(protoError ?: "no .proto source")

    /** The column called [name] (Delta compares column names case-insensitively), or `null`. */
    fun column(name: String): Column? = columns.firstOrNull { it.name.equals(name, ignoreCase = true) }

    override fun toString(): String = "TableSchema($fullName: ${columns.joinToString { "${it.name} ${it.typeText}" }})"
}
