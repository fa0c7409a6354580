//! Structs read only from objects. serde's derive also reads a struct from an array of its
//! fields in order (`"candidate": [null, "senior"]`, MessagePack's compact form): no client
//! means that, and the schemas say `object`. [`Object`] wraps a whole body (the REST routes'),
//! [`optional`] is for a field (`#[serde(deserialize_with = "crate::object::optional")]`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// `T`, read only from an object (a JSON object, a MessagePack map); its schema is `T`'s.
#[derive(Debug, Clone, PartialEq)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData)).map(Object)
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Object<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// An optional struct field read only from an object, or `null`.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Object<T>>::deserialize(deserializer)?.map(|Object(value)| value))
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::Object;
    use crate::Encoding;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        a: Option<u32>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        #[serde(default, deserialize_with = "super::optional")]
        inner: Option<Inner>,
    }

    #[test]
    fn an_object_is_read_an_array_refused() {
        let read = |text: &str| serde_json::from_str::<Object<Outer>>(text).map(|Object(o)| o);
        assert_eq!(read(r#"{"inner":{"a":1}}"#).unwrap(), Outer { inner: Some(Inner { a: Some(1) }) });
        assert_eq!(read(r#"{"inner":null}"#).unwrap(), Outer { inner: None });
        assert_eq!(read("{}").unwrap(), Outer { inner: None });
        // What serde's derive alone takes.
        assert_eq!(serde_json::from_str::<Inner>("[1]").unwrap(), Inner { a: Some(1) });
        let refused = read(r#"{"inner":[1]}"#).unwrap_err().to_string();
        assert!(refused.contains("expected an object"), "{refused}");
        assert!(read(r#"[{"a":1}]"#).unwrap_err().to_string().contains("expected an object"));
    }

    #[test]
    fn a_messagepack_array_is_refused_too() {
        let map = rmp_serde::to_vec_named(&serde_json::json!({"inner": {"a": 2}})).unwrap();
        let decoded: Object<Outer> = Encoding::MsgPack.decode(&map).unwrap();
        assert_eq!(decoded.0.inner, Some(Inner { a: Some(2) }));
        let array = rmp_serde::to_vec_named(&serde_json::json!({"inner": [2]})).unwrap();
        assert!(Encoding::MsgPack.decode::<Object<Outer>>(&array).is_err());
    }
}
