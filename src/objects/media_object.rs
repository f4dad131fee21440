//! MediaObject: members every class has (name, tags, parent, children, creation time).

use std::sync::Arc;

use serde_json::Value;

use super::{values, Args, MediaObject, Outcome, Result, World};
use crate::protocol::KurentoError;

pub(super) fn invoke(
    world: &dyn World,
    obj: &Arc<MediaObject>,
    op: &str,
    args: Args<'_>,
) -> Result<Outcome> {
    let value = match op {
        "addTag" => {
            let (key, value) = (args.str("key")?, args.str("value")?);
            let mut st = obj.state.lock();
            match st.tags.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value.to_owned(),
                None => st.tags.push((key.to_owned(), value.to_owned())),
            }
            None
        }
        "removeTag" => {
            let key = args.str("key")?;
            obj.state.lock().tags.retain(|(k, _)| k != key);
            None
        }
        "getTag" => {
            let key = args.str("key")?;
            let st = obj.state.lock();
            let (_, v) = st
                .tags
                .iter()
                .find(|(k, _)| k == key)
                .ok_or_else(KurentoError::tag_not_found)?;
            Some(Value::from(v.clone()))
        }
        "getTags" => {
            let st = obj.state.lock();
            Some(Value::Array(
                st.tags
                    .iter()
                    .map(|(k, v)| values::tag_value(k, v))
                    .collect(),
            ))
        }
        _ if values::is_getter(op, "id") => Some(Value::from(obj.id.clone())),
        _ if values::is_getter(op, "name") => Some(Value::from(
            obj.state
                .lock()
                .name
                .clone()
                .unwrap_or_else(|| obj.id.clone()),
        )),
        _ if values::is_setter(op, "name") => {
            let name = args.str("name")?;
            obj.state.lock().name = Some(name.to_owned());
            None
        }
        _ if values::is_getter(op, "sendTagsInEvents") => {
            Some(Value::from(obj.state.lock().send_tags_in_events))
        }
        _ if values::is_setter(op, "sendTagsInEvents") => {
            let v = args.bool("sendTagsInEvents")?;
            obj.state.lock().send_tags_in_events = v;
            None
        }
        _ if values::is_getter(op, "creationTime") => Some(Value::from(obj.creation_time)),
        _ if values::is_getter(op, "mediaPipeline") => Some(Value::from(
            obj.pipeline.clone().unwrap_or_else(|| obj.id.clone()),
        )),
        _ if values::is_getter(op, "parent") => Some(obj.parent().map_or(Value::Null, Value::from)),
        _ if values::is_getter(op, "children") => Some(Value::Array(
            world
                .children(&obj.id)
                .into_iter()
                .map(Value::from)
                .collect(),
        )),
        _ => return Ok(Outcome::NotMine),
    };
    Ok(value.into())
}
