use super::*;
use crate::models::{Item, Machine};
use serde_json::{Value, json};

/// The page split in chunks of `size` bytes: its items and next link, or the error.
fn split<T: DeserializeOwned + Send>(
    body: &[u8],
    size: usize,
) -> Result<(Vec<T>, Option<String>), String> {
    let mut splitter = PageSplitter::<T>::default();
    splitter.start();
    for chunk in body.chunks(size.max(1)) {
        splitter.feed(chunk);
    }
    let next = splitter.finish_page()?;
    Ok((splitter.items, next))
}

/// What decoding the whole body at once gives.
fn whole<T: DeserializeOwned>(body: &[u8]) -> Result<(Vec<T>, Option<String>), String> {
    let page: Page<T> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok((page.value, page.next_link.or(page.odata_next_link)))
}

/// Every chunking of `body` decodes as the whole body does (the same items and link, or an
/// error for both).
fn same_as_whole(body: &str) {
    let expected = whole::<Value>(body.as_bytes());
    for size in [1, 2, 3, 5, 7, 16, 64, body.len().max(1)] {
        let got = split::<Value>(body.as_bytes(), size);
        match (&expected, &got) {
            (Ok(e), Ok(g)) => assert_eq!(e, g, "{body} in chunks of {size}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{body} in chunks of {size}: whole {expected:?}, split {got:?}"),
        }
    }
}

#[test]
fn pages_split_in_any_chunks_decode_as_the_whole_body() {
    for body in [
        r#"{"value":[]}"#,
        r#"{"value":[{"id":"a"},{"id":"b"}],"nextLink":"https://x/next?a=1"}"#,
        r#" { "nextLink" : "n1" , "value" : [ {"id":"a" , "x":[1,[2],{"y":"]}"}]} , 7 , "s\"]" , true , null , -1.5e3 ] } "#,
        r#"{"@odata.nextLink":"o","value":[{"value":[{"value":1}]},{"a":"\\"}]}"#,
        r#"{"value":[{"name":"\u00e9\u0000 ünïcødé \ud83d\ude00","tags":{"value":"[{"}}]}"#,
        r#"{"other":{"value":[1,2]},"value":[3],"more":["value",[{"value":[4]}]]}"#,
        r#"{"valu":[1],"value":[2],"values":[3]}"#,
        r#"{"value":[{}],"nextLink":null}"#,
        r#"{"value":[1,2],"nextLink":""}"#,
    ] {
        same_as_whole(body);
    }
}

#[test]
fn bodies_that_are_not_one_page_fail_as_the_whole_body_does() {
    for body in [
        "",
        "   ",
        r#"{"value":[1 2]}"#,
        r#"{"value":[1,]}"#,
        r#"{"value":[,1]}"#,
        r#"{"value":[{"id":"a"}{"id":"b"}]}"#,
        r#"{"value":[{"id":"a"},"#,
        r#"{"value":[{"id":"a""#,
        r#"{"value":[{"id":"a"}]"#,
        r#"{"value":[{"id":"a"}]}}"#,
        r#"{"value":[{"id":"a"}]} x"#,
        r#"{"value":[1],"value":[2]}"#,
        r#"{"value":[{"id":"a}]}"#,
        r#"{"value":[{"id":"a"]}]}"#,
        r#"{"value":[1}]}"#,
        r#"{"value":[tru]}"#,
        r#"{"value":{"id":"a"}}"#,
        r#"{"nextLink":"n"}"#,
        r#"[{"value":[1]}]"#,
        r#"{"value":["\u12"]}"#,
        "{\"value\":[\"a\u{1}b\"]}",
        r#"{"value"[1]}"#,
        r#"{"value":[1],"nextLink":5}"#,
    ] {
        same_as_whole(body);
        assert!(
            split::<Value>(body.as_bytes(), 3).is_err(),
            "{body} was accepted"
        );
    }
}

#[test]
fn invalid_utf8_in_an_item_fails_the_page() {
    let body = b"{\"value\":[\"a\xffb\"]}";
    assert!(whole::<Value>(body).is_err());
    for size in [1, 4, body.len()] {
        assert!(split::<Value>(body, size).is_err());
    }
}

#[test]
fn a_bad_machine_is_an_invalid_item_and_the_list_goes_on() {
    let body = json!({
        "value": [
            {"id": "/m/1", "name": "one", "properties": {"osSku": "Windows Server 2012 R2 Datacenter"}},
            {"id": "/m/2", "name": ["not", "a", "name"], "properties": 7},
            "not an object",
            {"id": "/m/3", "name": "three"}
        ],
        "nextLink": "https://management.azure.com/next"
    })
    .to_string();
    let expected = whole::<Item<Machine>>(body.as_bytes()).unwrap();
    for size in [1, 9, 100, body.len()] {
        let got = split::<Item<Machine>>(body.as_bytes(), size).unwrap();
        assert_eq!(got, expected);
    }
    assert_eq!(expected.0.len(), 4);
    assert!(matches!(&expected.0[0], Item::Read(m) if m.name == "one"));
}

#[test]
fn a_type_error_in_a_strict_item_fails_the_page() {
    let body = br#"{"value":[1,"two",3]}"#;
    assert!(whole::<u32>(body).is_err());
    let error = split::<u32>(body, 4).unwrap_err();
    assert!(error.contains("an item of the list"), "{error}");
}

#[test]
fn pages_of_one_list_add_up_and_a_retried_attempt_starts_over() {
    let mut splitter = PageSplitter::<u32>::default();
    splitter.start();
    splitter.feed(br#"{"value":[1,2],"nextLink":"p2"}"#);
    assert_eq!(splitter.finish_page().unwrap().as_deref(), Some("p2"));
    let start = splitter.page_start();
    assert_eq!(start, 2);
    // An attempt that broke off, then the retry.
    splitter.start();
    splitter.feed(br#"{"value":[3,4"#);
    splitter.start();
    splitter.feed(br#"{"value":[3,4,5]}"#);
    assert_eq!(splitter.finish_page().unwrap(), None);
    assert_eq!(splitter.items, [1, 2, 3, 4, 5]);
    assert_eq!(&splitter.items[start..], [3, 4, 5]);
}

#[test]
fn a_failed_page_leaves_the_earlier_pages_alone() {
    let mut splitter = PageSplitter::<u32>::default();
    splitter.start();
    splitter.feed(br#"{"value":[1]}"#);
    splitter.finish_page().unwrap();
    splitter.start();
    splitter.feed(br#"{"value":[2,]}"#);
    assert!(splitter.finish_page().is_err());
    assert_eq!(splitter.items, [1]);
}

/// Any JSON value, a few levels deep, with keys that look like the envelope's.
fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z\"\\\\\\[\\]{}:, \u{e9}\u{1F600}]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("value".to_owned()),
                        Just("nextLink".to_owned()),
                        "[a-z]{1,5}"
                    ],
                    inner
                ),
                0..4
            )
            .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    /// A page body — well formed, or cut short, or with one byte changed — decodes in any
    /// chunking as the whole body does: the same items and next link, or an error for both.
    #[test]
    fn any_body_in_any_chunks_decodes_as_the_whole_body(
        items in proptest::collection::vec(json_value(), 0..5),
        extra in json_value(),
        link in proptest::option::of("[a-z:/?=&]{0,12}"),
        pretty in proptest::bool::ANY,
        damage in proptest::option::of((proptest::num::usize::ANY, proptest::num::u8::ANY, proptest::bool::ANY)),
        size in 1usize..40,
    ) {
        let mut page = serde_json::Map::new();
        page.insert("value".to_owned(), Value::Array(items));
        page.insert("extra".to_owned(), extra);
        if let Some(link) = link {
            page.insert("nextLink".to_owned(), Value::String(link));
        }
        let page = Value::Object(page);
        let mut body = if pretty {
            serde_json::to_vec_pretty(&page).expect("serialises")
        } else {
            serde_json::to_vec(&page).expect("serialises")
        };
        if let Some((at, byte, truncate)) = damage {
            let at = at % body.len();
            if truncate {
                body.truncate(at);
            } else {
                body[at] = byte;
            }
        }
        let expected = whole::<Value>(&body);
        let got = split::<Value>(&body, size);
        match (&expected, &got) {
            (Ok(e), Ok(g)) => proptest::prop_assert_eq!(e, g),
            (Err(_), Err(_)) => {}
            _ => proptest::prop_assert!(
                false,
                "{} in chunks of {size}: whole {expected:?}, split {got:?}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
}
