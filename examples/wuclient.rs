//! Weather update client, as in the ZeroMQ guide: connects SUB to tcp://localhost:5556,
//! subscribes to one zipcode (the first argument, "10001 " — New York — by default),
//! collects 100 updates and prints their average temperature.
//!
//! With `wuserver` publishing updates for 100 000 zipcodes at random, 100 updates for one
//! of them take a while to come; a shorter prefix such as `1` matches more often.

fn main() -> Result<(), ferromq::Error> {
    let ctx = ferromq::Context::new();
    println!("Collecting updates from weather server...");
    let mut subscriber = ctx.subscriber()?;
    subscriber.connect("tcp://localhost:5556")?;

    let filter = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10001 ".to_owned());
    subscriber.subscribe(&filter);

    const UPDATES: i64 = 100;
    let mut total_temp = 0i64;
    let mut received = 0;
    while received < UPDATES {
        let update = subscriber.recv()?;
        // "zipcode temperature relhumidity"; anything else is not a weather update.
        let text = String::from_utf8_lossy(&update[0]);
        let Some(temperature) = text
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.parse::<i64>().ok())
        else {
            continue;
        };
        total_temp += temperature;
        received += 1;
    }
    println!(
        "Average temperature for zipcode '{filter}' was {}F",
        total_temp / UPDATES
    );
    Ok(())
}
