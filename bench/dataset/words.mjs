// Vocabulary for the generated text (SQL rows, log lines, small notes). ASCII only.
export const WORDS = (
  'apple harbor granite lantern meadow cobalt willow falcon ember quartz river summit ' +
  'ledger parcel invoice voucher tariff rebate freight pallet courier depot manifest ' +
  'storefront catalog variant bundle wishlist cart checkout receipt refund dispute ' +
  'session cookie token browser tablet kiosk gateway webhook cluster replica shard ' +
  'amber crimson teal ivory onyx scarlet indigo maroon olive navy charcoal ' +
  'linen denim suede bamboo marble copper canvas velvet ceramic carbon ' +
  'quick lazy brown fox jumps over the dog pack my box with five dozen liquor jugs ' +
  'urgent fragile standard expedited overnight ground pickup return exchange backorder'
).split(' ');

export const GIVEN = (
  'Ada Alan Grace Edsger Barbara Donald Frances Niklaus Radia Ken Dennis Margaret ' +
  'Tim Linus Guido Yukihiro Bjarne Anders Sophie Leslie Shafi Whitfield Hedy John ' +
  'Amara Diego Ingrid Kenji Leila Mikhail Nadia Oskar Paulo Rosa Tariq Ulla'
).split(' ');

export const FAMILY = (
  'Lovelace Turing Hopper Dijkstra Liskov Knuth Allen Wirth Perlman Thompson Ritchie ' +
  'Hamilton Berners Torvalds Rossum Matsumoto Stroustrup Hejlsberg Wilson Lamport ' +
  'Goldwasser Diffie Lamarr Backus Okafor Alvarez Berg Watanabe Haddad Petrov Karimi ' +
  'Lindqvist Costa Moreno Aziz Nyberg'
).split(' ');

export const TOWNS = (
  'Lisbon Porto Ghent Utrecht Bergen Tampere Gdansk Brno Graz Lyon Turin Seville ' +
  'Leeds Cork Kyoto Busan Pune Accra Dakar Quito Recife Tucson Boise Halifax Hobart Nelson'
).split(' ');

export const MAIL_DOMAINS = ['example.org', 'example.net', 'mail.example', 'shop.test', 'users.invalid'];
