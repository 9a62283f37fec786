-- Tables the conformance mock declares with their columns: Unity Catalog serves their schemas,
-- PROTO streams on them are checked against the columns, and streams "from the table" encode
-- JSON and native-object records by these types. Cases in cases/schemas.json use them.
conformance.typed.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT, at TIMESTAMP,
    tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>);

conformance.typed.all_types(b BOOLEAN, y TINYINT, s SMALLINT, i INT NOT NULL, l BIGINT, f FLOAT,
    d DOUBLE, dt DATE, ts TIMESTAMP, tn TIMESTAMP_NTZ, st STRING, bi BINARY, de DECIMAL(10,2),
    v VARIANT, a ARRAY<BIGINT>, m MAP<STRING, DOUBLE>,
    r STRUCT<x: INT NOT NULL, y: ARRAY<STRUCT<z: STRING>>>);

-- Arrow cases (cases/arrow.json) write rows generated from (seed, seq) to this table.
conformance.arrow.events(seed BIGINT NOT NULL, seq BIGINT NOT NULL, pad STRING);
