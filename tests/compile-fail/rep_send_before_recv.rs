fn main() {
    let ctx = ferromq::Context::new();
    let mut rep = ctx.rep().unwrap();
    let _ = rep.send("reply to nobody");
}
