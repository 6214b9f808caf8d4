pub(crate) struct Dummy;
