fn main() {
    let ctx = ferromq::Context::new();
    let mut req = ctx.req().unwrap();
    let first = req.send("one").unwrap();
    let _second = req.send("two");
    let _ = first.recv();
}
