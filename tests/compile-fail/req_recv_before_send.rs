fn main() {
    let ctx = ferromq::Context::new();
    let mut req = ctx.req().unwrap();
    let _reply = req.recv();
}
