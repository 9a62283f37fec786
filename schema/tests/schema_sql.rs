//! Table definitions in SQL column syntax and their Unity Catalog JSON, both ways.

use zerobus_schema::{parse_table, parse_tables, parse_type, DataType, StructField, TableSchema};

const AIR_QUALITY: &str = "main.default.air_quality(device_name STRING NOT NULL, temp INT, humidity BIGINT, \
     at TIMESTAMP, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)";

#[test]
fn parses_the_issue_example() {
    let t = parse_table(AIR_QUALITY).unwrap();
    assert_eq!(t.full_name(), "main.default.air_quality");
    let names: Vec<_> = t.columns.iter().map(|c| (c.name.as_str(), c.nullable, c.position)).collect();
    assert_eq!(
        names,
        [
            ("device_name", false, 0),
            ("temp", true, 1),
            ("humidity", true, 2),
            ("at", true, 3),
            ("tags", true, 4),
            ("loc", true, 5)
        ]
    );
    assert_eq!(t.columns[2].data_type, DataType::Long);
    assert_eq!(
        t.columns[5].data_type,
        DataType::Struct(vec![
            StructField { name: "lat".into(), data_type: DataType::Double, nullable: true },
            StructField { name: "lon".into(), data_type: DataType::Double, nullable: true },
        ])
    );
    assert_eq!(t.columns[4].data_type.to_string(), "array<string>");
    assert_eq!(t.columns[5].data_type.to_string(), "struct<lat:double,lon:double>");
}

#[test]
fn aliases_quotes_comments_and_nesting() {
    let t = parse_table(
        "c.s.t(`odd name` long comment 'the id', d dec(5, 2) not null, v varchar(10), \
         m map<string, array<int>>, x struct<a: struct<b tinyint not null>>, n timestamp_ntz, b binary, j variant)",
    )
    .unwrap();
    assert_eq!(t.columns[0].name, "odd name");
    assert_eq!(t.columns[0].comment.as_deref(), Some("the id"));
    assert_eq!(t.columns[1].data_type, DataType::Decimal { precision: 5, scale: 2 });
    assert!(!t.columns[1].nullable);
    assert_eq!(t.columns[2].data_type, DataType::String);
    assert_eq!(t.columns[3].data_type.to_string(), "map<string,array<int>>");
    assert_eq!(t.columns[4].data_type.to_string(), "struct<a:struct<b:tinyint not null>>");
    assert_eq!(parse_type("DECIMAL").unwrap(), DataType::Decimal { precision: 10, scale: 0 });
}

#[test]
fn tables_file_holds_many_definitions() {
    let text = "-- two tables\nmain.a.one(id BIGINT);\n# another\nmain.a.two(\n  id BIGINT NOT NULL,\n  name STRING\n)\n";
    let tables = parse_tables(text).unwrap();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[1].columns[1].name, "name");
    let twice = parse_tables("a.b.c(x INT) a.b.c(y INT)").unwrap_err();
    assert!(twice.to_string().contains("a.b.c is defined twice"), "{twice}");
}

#[test]
fn bad_definitions_say_what_and_where() {
    let cases = [
        ("main.t(x INT)", "expected `.`"),
        ("a.b.c", "list its columns"),
        ("a.b.c(x INTEGR)", "unknown type INTEGR"),
        ("a.b.c(x DECIMAL(40,2))", "out of range"),
        ("a.b.c(x INT, x STRING)", "column x is defined twice"),
        ("a.b.c(x ARRAY<INT)", "to close ARRAY"),
        ("a.b.c(x INT NOT)", "expected NULL after NOT"),
        ("a.b.c(x INT) trailing", "unexpected text"),
    ];
    for (text, want) in cases {
        let err = parse_table(text).unwrap_err().to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn uc_json_round_trips_every_type() {
    let t = parse_table(
        "main.default.all_types(b BOOLEAN, y TINYINT, s SMALLINT, i INT NOT NULL, l BIGINT, f FLOAT, d DOUBLE, \
         dt DATE, ts TIMESTAMP, tn TIMESTAMP_NTZ, st STRING, bi BINARY, de DECIMAL(10,2), v VARIANT, \
         a ARRAY<BIGINT>, m MAP<STRING, DOUBLE>, r STRUCT<x: INT NOT NULL, y: ARRAY<STRUCT<z: STRING>>>)",
    )
    .unwrap();
    let json = t.to_uc_json();
    assert_eq!(json["full_name"], "main.default.all_types");
    assert_eq!(json["table_type"], "MANAGED");
    let col = |i: usize| &json["columns"][i];
    assert_eq!(col(4)["type_name"], "LONG");
    assert_eq!(col(4)["type_text"], "bigint");
    assert_eq!(col(12)["type_text"], "decimal(10,2)");
    assert_eq!(col(12)["type_precision"], 10);
    assert_eq!(col(3)["nullable"], false);
    assert_eq!(col(16)["position"], 16);
    let type_json: serde_json::Value = serde_json::from_str(col(15)["type_json"].as_str().unwrap()).unwrap();
    assert_eq!(
        type_json,
        serde_json::json!({"name": "m", "type": {"type": "map", "keyType": "string", "valueType": "double",
            "valueContainsNull": true}, "nullable": true, "metadata": {}})
    );
    let back = TableSchema::from_uc_json(json.to_string().as_bytes()).unwrap();
    assert_eq!(back, t);
}

#[test]
fn uc_json_without_type_json_reads_primitives() {
    let body = r#"{"full_name": "a.b.c", "columns": [
        {"name": "id", "type_name": "LONG", "nullable": false, "position": 0},
        {"name": "price", "type_name": "DECIMAL", "type_text": "decimal(8,3)", "position": 1},
        {"name": "tags", "type_name": "ARRAY", "position": 2}]}"#;
    let err = TableSchema::from_uc_json(body.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("column tags: a ARRAY column needs type_json"), "{err}");
    let body = body.replace(
        r#",
        {"name": "tags", "type_name": "ARRAY", "position": 2}"#,
        "",
    );
    let t = TableSchema::from_uc_json(body.as_bytes()).unwrap();
    assert_eq!(t.name, "c");
    assert_eq!(t.columns[1].data_type, DataType::Decimal { precision: 8, scale: 3 });
}
