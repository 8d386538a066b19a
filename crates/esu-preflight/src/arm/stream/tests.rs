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
