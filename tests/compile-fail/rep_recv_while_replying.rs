fn main() {
    let ctx = ferromq::Context::new();
    let mut rep = ctx.rep().unwrap();
    let request = rep.recv().unwrap();
    let _next = rep.recv();
    let _ = request.reply("late");
}
