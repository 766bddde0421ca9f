//! Guards over a store's objects: a pinned object released when dropped,
//! and an object being created, aborted when dropped unless sealed.

use super::Store;
use crate::error::Result;
use crate::id::ObjectId;
use crate::object::RawObject;

/// A pinned object; released when dropped.
#[derive(Debug)]
pub struct Object<'s> {
    store: &'s Store,
    id: ObjectId,
    raw: RawObject,
}

impl<'s> Object<'s> {
    pub(super) fn new(store: &'s Store, id: ObjectId, raw: RawObject) -> Object<'s> {
        Object { store, id, raw }
    }
    pub fn id(&self) -> &ObjectId {
        &self.id
    }
    /// The object's data.
    pub fn data(&self) -> &[u8] {
        // SAFETY: the object is pinned by this guard, so the bytes stay mapped
        // and are never written again (objects are immutable once sealed).
        unsafe { std::slice::from_raw_parts(self.raw.data, self.raw.data_len) }
    }
    /// The object's metadata.
    pub fn meta(&self) -> &[u8] {
        // SAFETY: as for `data`.
        unsafe { std::slice::from_raw_parts(self.raw.meta, self.raw.meta_len) }
    }
    pub fn raw(&self) -> RawObject {
        self.raw
    }
}

impl Drop for Object<'_> {
    fn drop(&mut self) {
        let _ = self.store.release(&self.id);
    }
}

/// An object being created; aborted when dropped unless sealed.
#[derive(Debug)]
pub struct Creating<'s> {
    store: &'s Store,
    id: ObjectId,
    ptr: *mut u8,
    len: usize,
    done: bool,
}

impl<'s> Creating<'s> {
    pub(super) fn new(store: &'s Store, id: ObjectId, ptr: *mut u8, len: usize) -> Creating<'s> {
        Creating { store, id, ptr, len, done: false }
    }
    pub fn id(&self) -> &ObjectId {
        &self.id
    }
    /// The bytes to fill.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: the block belongs to this unsealed object, which no other
        // process can see or free; `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    pub fn seal(mut self) -> Result<()> {
        self.done = true;
        self.store.seal(&self.id)
    }
    pub fn abort(mut self) -> Result<()> {
        self.done = true;
        self.store.abort(&self.id)
    }
}

impl Drop for Creating<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.store.abort(&self.id);
        }
    }
}
