use serde_json::json;

use super::*;
use crate::ids::WorkspaceId;
use crate::time::Timestamp;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn columns(headers: &[&str], options: &ImportOptions) -> Columns {
    Columns::from_header(&strings(headers), options).unwrap()
}

fn opts() -> ImportOptions {
    ImportOptions { overwrite: true, ..ImportOptions::default() }
}

#[test]
fn options_parse_with_defaults_and_refuse_unknown_keys() {
    let o: ImportOptions = serde_json::from_value(json!({})).unwrap();
    assert_eq!(
        (o.mode, o.identifier, o.overwrite, o.encoding),
        (ImportMode::Upsert, Identifier::Phone, true, Encoding::Utf8)
    );
    let o: ImportOptions = serde_json::from_value(
        json!({"mode": "add_all", "identifier": "email", "overwrite": false, "encoding": "latin1"}),
    )
    .unwrap();
    assert_eq!(
        (o.mode, o.identifier, o.overwrite, o.encoding),
        (ImportMode::AddAll, Identifier::Email, false, Encoding::Windows1252)
    );
    assert!(serde_json::from_value::<ImportOptions>(json!({"modes": "add"})).is_err());
    assert!(serde_json::from_value::<ImportOptions>(json!({"mode": "replace"})).is_err());
    let bad = ImportOptions { delimiter: Some('x'), ..opts() };
    assert!(bad.delimiter_byte().is_err());
}

#[test]
fn headers_map_automatically_and_the_rest_is_reported() {
    let c = columns(&["Name", " Phone ", "email", "tags", "plan", "age:number", "Date of birth"], &opts());
    assert_eq!(
        c.targets,
        vec![
            Some(Target::Name),
            Some(Target::Phone),
            Some(Target::Email),
            Some(Target::Tags),
            Some(Target::Field("plan".into(), FieldKind::Text)),
            Some(Target::Field("age".into(), FieldKind::Number)),
            None
        ]
    );
    assert_eq!(c.ignored(), vec!["Date of birth"]);
}

#[test]
fn explicit_mapping_wins_and_can_ignore() {
    let mut o = opts();
    o.mapping.insert("Mobile".into(), Some("phone".into()));
    o.mapping.insert("Full name".into(), Some("name".into()));
    o.mapping.insert("plan".into(), None);
    o.mapping.insert("VIP?".into(), Some("fields.vip:boolean".into()));
    let c = columns(&["Full name", "Mobile", "plan", "VIP?"], &o);
    assert_eq!(
        c.targets,
        vec![Some(Target::Name), Some(Target::Phone), None, Some(Target::Field("vip".into(), FieldKind::Boolean))]
    );
}

#[test]
fn bad_mappings_are_refused_with_the_column() {
    let mut o = opts();
    o.mapping.insert("Nope".into(), Some("name".into()));
    let e = Columns::from_header(&strings(&["name", "phone"]), &o).unwrap_err();
    assert_eq!((e.code, e.field.as_deref()), ("unknown_column", Some("mapping.Nope")));

    let mut o = opts();
    o.mapping.insert("Mobile".into(), Some("telephone".into()));
    let e = Columns::from_header(&strings(&["Mobile"]), &o).unwrap_err();
    assert_eq!(e.code, "invalid_mapping");

    let mut o = opts();
    o.mapping.insert("Mobile".into(), Some("phone".into()));
    let e = Columns::from_header(&strings(&["Mobile", "phone"]), &o).unwrap_err();
    assert_eq!(e.code, "invalid_mapping", "two columns cannot both be the phone");

    let o = ImportOptions { identifier: Identifier::Email, ..opts() };
    let e = Columns::from_header(&strings(&["name", "phone"]), &o).unwrap_err();
    assert_eq!(e.code, "missing_identifier");
    // Adding every row needs no identifier.
    let o = ImportOptions { identifier: Identifier::Email, mode: ImportMode::AddAll, ..opts() };
    assert!(Columns::from_header(&strings(&["name", "phone"]), &o).is_ok());
}

#[test]
fn a_row_is_read_and_cleaned() {
    let c = columns(&["id", "name", "phone", "email", "tags", "plan", "age:number", "vip:boolean"], &opts());
    let row = read_row(
        &c,
        7,
        &["12", " Ana ", "+55 11 91234-5678", "Ana@X.com", "VIP, lead,,vip", "gold", "42", "yes"],
        None,
    )
    .unwrap();
    assert_eq!(row.line, 7);
    assert_eq!(row.id, Some(ContactId(12)));
    assert_eq!(row.name.as_deref(), Some("Ana"));
    assert_eq!(row.phone.as_ref().unwrap().as_str(), "+5511912345678");
    assert_eq!(row.email.as_ref().unwrap().as_str(), "ana@x.com");
    assert_eq!(row.tags, vec!["lead", "vip"]);
    assert_eq!(Value::Object(row.fields.clone()), json!({"plan": "gold", "age": 42, "vip": true}));
    assert_eq!(row.key(Identifier::Phone).as_deref(), Some("+5511912345678"));
    assert_eq!(row.key(Identifier::Id).as_deref(), Some("12"));
}

#[test]
fn every_problem_of_a_row_is_reported_with_its_column() {
    let c = columns(&["name", "phone", "email", "age:number"], &opts());
    let problems = read_row(&c, 9, &["Ana", "12", "not-an-email", "forty"], None).unwrap_err();
    let got: Vec<(u64, Option<&str>, &str)> =
        problems.iter().map(|p| (p.line, p.column.as_deref(), p.code.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (9, Some("phone"), "invalid_phone"),
            (9, Some("email"), "invalid_email"),
            (9, Some("age:number"), "invalid_value")
        ]
    );
    assert_eq!(problems[0].value.as_deref(), Some("12"));
    let short = read_row(&c, 3, &["Ana", "+33612345678"], None).unwrap_err();
    assert_eq!(short[0].code, "wrong_cell_count");
}

#[test]
fn empty_cells_are_no_value() {
    let c = columns(&["name", "phone", "email"], &opts());
    let row = read_row(&c, 2, &["", "  ", ""], None).unwrap();
    assert!(!row.can_create());
    assert_eq!(row.key(Identifier::Phone), None);
}

#[test]
fn the_region_reads_national_numbers() {
    let c = columns(&["phone"], &opts());
    assert!(read_row(&c, 2, &["06 12 34 56 78"], None).is_err());
    let row = read_row(&c, 2, &["06 12 34 56 78"], Some(crate::phone::parse_region("FR").unwrap())).unwrap();
    assert_eq!(row.phone.unwrap().as_str(), "+33612345678");
}

fn contact() -> Contact {
    Contact {
        id: ContactId(5),
        workspace_id: WorkspaceId(1),
        name: Some("Ana".into()),
        phone: None,
        email: Some(Email::parse("ana@x.com").unwrap()),
        invalid_phone: None,
        invalid_email: None,
        fields: json!({"plan": "silver"}).as_object().unwrap().clone(),
        tags: vec!["lead".into()],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
    }
}

#[test]
fn overwrite_or_only_fill_the_gaps() {
    let row = ImportRow {
        name: Some("Ana Souza".into()),
        phone: Some(E164::parse("+33612345678").unwrap()),
        fields: json!({"plan": "gold", "city": "Lyon"}).as_object().unwrap().clone(),
        tags: vec!["vip".into()],
        ..ImportRow::default()
    };
    let mut kept = contact();
    assert!(row.apply(&mut kept, false).unwrap());
    assert_eq!(kept.name.as_deref(), Some("Ana"), "existing values stay");
    assert_eq!(kept.phone.as_ref().unwrap().as_str(), "+33612345678", "empty ones are filled");
    assert_eq!(Value::Object(kept.fields.clone()), json!({"plan": "silver", "city": "Lyon"}));
    assert_eq!(kept.tags, vec!["lead", "vip"], "tags are added");

    let mut over = contact();
    assert!(row.apply(&mut over, true).unwrap());
    assert_eq!(over.name.as_deref(), Some("Ana Souza"));
    assert_eq!(over.fields["plan"], "gold");
    assert_eq!(over.email.as_ref().unwrap().as_str(), "ana@x.com", "an absent value clears nothing");

    // Applying the same row again changes nothing.
    assert!(!row.apply(&mut over, true).unwrap());
}

#[test]
fn delimiters_are_guessed_outside_quotes() {
    assert_eq!(detect_delimiter(b"name,phone,email\n"), b',');
    assert_eq!(detect_delimiter(b"name;phone;email\r\n"), b';');
    assert_eq!(detect_delimiter(b"\"a;b\",c\n"), b',');
    assert_eq!(detect_delimiter(b"name\tphone\n"), b'\t');
    assert_eq!(detect_delimiter(b"name\n"), b',');
}

#[test]
fn export_rows_carry_types_in_the_header() {
    let mut a = contact();
    a.fields = json!({"age": 42, "vip": true, "plan": "gold"}).as_object().unwrap().clone();
    let mut b = contact();
    b.fields = json!({"age": "unknown"}).as_object().unwrap().clone();
    let fields = export_fields([&a]);
    assert_eq!(
        export_header(&fields),
        vec!["id", "name", "phone", "email", "tags", "age:number", "plan", "vip:boolean"]
    );
    assert_eq!(export_row(&a, &fields), vec!["5", "Ana", "", "ana@x.com", "lead", "42", "gold", "true"]);
    // Mixed types fall back to text.
    assert_eq!(export_fields([&a, &b])[0], ("age".to_owned(), FieldKind::Text));
}

#[test]
fn an_exported_row_reads_back_as_the_same_contact() {
    let mut a = contact();
    a.phone = Some(E164::parse("+5491123456789").unwrap());
    a.tags = vec!["lead".into(), "vip".into()];
    a.fields = json!({"age": 42.5, "vip": false, "note": "a, \"quoted\" value"}).as_object().unwrap().clone();
    let fields = export_fields([&a]);
    let header = export_header(&fields);
    let row = export_row(&a, &fields);
    let cells: Vec<&str> = row.iter().map(String::as_str).collect();
    let read =
        read_row(&columns(&header.iter().map(String::as_str).collect::<Vec<_>>(), &opts()), 2, &cells, None).unwrap();
    assert_eq!(read.id, Some(a.id));
    assert_eq!((read.name, read.phone, read.email), (a.name, a.phone, a.email));
    assert_eq!(read.fields, a.fields);
    assert_eq!(read.tags, a.tags);
}

#[test]
fn cells_a_spreadsheet_would_run_are_escaped_and_read_back_unchanged() {
    for (value, exported) in [
        ("=HYPERLINK(\"http://x.example\",\"click\")", "'=HYPERLINK(\"http://x.example\",\"click\")"),
        ("+33612345678", "'+33612345678"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),
        ("''", "'''"),
        ("'tis", "'tis"),
        ("'", "'"),
        ("Ana", "Ana"),
        ("", ""),
        ("a=b", "a=b"),
    ] {
        assert_eq!(neutralize_cell(value), exported, "{value:?}");
        assert_eq!(restore_cell(&neutralize_cell(value)), value, "{value:?}");
    }
    // A file from elsewhere keeps a leading quote that does not escape anything.
    assert_eq!(restore_cell("'tis the season"), "'tis the season");
}

#[test]
fn an_export_with_formula_names_opens_as_text_and_reads_back_unchanged() {
    let mut a = contact();
    a.name = Some("=HYPERLINK(\"http://evil.example\",\"Open\")".into());
    a.phone = Some(E164::parse("+33612345678").unwrap());
    a.fields = json!({"balance": -12, "handle": "@ana", "note": "+1 call back"}).as_object().unwrap().clone();
    let fields = export_fields([&a]);
    let header = export_header(&fields);
    let row = export_row(&a, &fields);
    assert!(row.iter().all(|cell| !cell.starts_with(FORMULA_STARTS)), "{row:?}");
    assert_eq!(row[1], "'=HYPERLINK(\"http://evil.example\",\"Open\")");
    assert_eq!(row[2], "'+33612345678");
    let cells: Vec<&str> = row.iter().map(String::as_str).collect();
    let read =
        read_row(&columns(&header.iter().map(String::as_str).collect::<Vec<_>>(), &opts()), 2, &cells, None).unwrap();
    assert_eq!((read.name, read.phone), (a.name, a.phone));
    assert_eq!(read.fields, a.fields);
}

proptest::proptest! {
    #[test]
    fn neutralized_cells_always_restore(value in "['=+@\t\r a-z-]{0,6}") {
        let exported = neutralize_cell(&value);
        proptest::prop_assert!(!exported.starts_with(FORMULA_STARTS));
        proptest::prop_assert_eq!(restore_cell(&exported), value.as_str());
    }
}
