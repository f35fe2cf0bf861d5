// Parley: the emoji the reaction picker offers, each with the names it is
// found by. COMMON are shown first; the search box looks through ALL by
// name. A list of our own, so the page needs nothing from elsewhere.
(() => {
  'use strict';

  const COMMON = ['👍', '👎', '❤️', '😂', '🎉', '🙏', '👀', '🔥', '✅', '❌', '😄', '😮', '😢', '😡', '🤔', '👏',
    '🙌', '💯', '🚀', '⭐', '💡', '⚠️', '➕', '👋', '🤝', '😍', '😎', '🥳', '🙈', '☕'];

  // "emoji name, other names" per line.
  const TABLE = `😀 grinning, smile, happy
😃 smiley, happy, joy
😄 smile, happy, laugh
😁 grin, beaming
😆 laughing, satisfied
😅 sweat smile, relief
🤣 rofl, rolling on the floor laughing
😂 joy, tears of joy, laugh, lol
🙂 slightly smiling
🙃 upside down
😉 wink
😊 blush, smiling eyes
😇 innocent, halo, angel
🥰 smiling with hearts, love
😍 heart eyes, love
🤩 star struck, excited
😘 kissing heart, kiss
😗 kissing
😋 yum, delicious
😛 tongue
😜 winking tongue, crazy
🤪 zany
😝 squinting tongue
🤑 money mouth
🤗 hugging, hug
🤭 hand over mouth, oops
🤫 shushing, quiet
🤔 thinking, hmm
🤐 zipper mouth, secret
🤨 raised eyebrow, skeptical
😐 neutral
😑 expressionless
😶 no mouth, speechless
😏 smirk
😒 unamused
🙄 eye roll, rolling eyes
😬 grimacing, awkward
😌 relieved
😔 pensive
😪 sleepy
🤤 drooling
😴 sleeping, zzz
😷 mask, sick
🤒 thermometer, ill
🤕 bandage, hurt
🤢 nauseated
🤮 vomiting
🤧 sneezing
🥵 hot
🥶 cold, freezing
🥴 woozy
😵 dizzy
🤯 exploding head, mind blown
🤠 cowboy
🥳 partying, party, celebrate
😎 sunglasses, cool
🤓 nerd, geek
🧐 monocle
😕 confused
😟 worried
🙁 slightly frowning
☹️ frowning, sad
😮 open mouth, wow, surprised
😯 hushed
😲 astonished, shocked
😳 flushed, embarrassed
🥺 pleading
😦 frowning open mouth
😧 anguished
😨 fearful, scared
😰 anxious
😥 sad relieved
😢 cry, sad, tear
😭 sob, crying
😱 scream, horror
😖 confounded
😣 persevering
😞 disappointed
😓 downcast sweat
😩 weary
😫 tired
🥱 yawning, bored
😤 triumph, huff
😡 rage, angry, mad
😠 angry
🤬 cursing, swearing
😈 smiling imp, devil
👿 imp
💀 skull, dead
☠️ skull and crossbones
💩 poop
🤡 clown
👹 ogre
👻 ghost
👽 alien
🤖 robot, bot
😺 smiley cat
😸 grinning cat
😹 cat joy
😻 heart eyes cat
🙈 see no evil, monkey
🙉 hear no evil
🙊 speak no evil
💋 kiss mark
💌 love letter
💘 cupid
💝 gift heart
💖 sparkling heart
💗 growing heart
💓 beating heart
💞 revolving hearts
💕 two hearts
💔 broken heart
❤️ heart, love, red heart
🧡 orange heart
💛 yellow heart
💚 green heart
💙 blue heart
💜 purple heart
🖤 black heart
🤍 white heart
💯 hundred, 100, perfect
💢 anger
💥 boom, collision
💫 dizzy star
💦 sweat drops
💨 dash
💬 speech balloon, comment
💭 thought balloon
💤 zzz, sleep
👋 wave, hello, hi, bye
🤚 raised back of hand
✋ raised hand, hand, stop
🖖 vulcan
👌 ok hand, okay
🤌 pinched fingers
✌️ victory, peace
🤞 crossed fingers, luck
🤟 love you gesture
🤘 rock on, horns
🤙 call me
👈 point left
👉 point right
👆 point up
👇 point down
☝️ index up
👍 thumbs up, +1, yes, like, ok
👎 thumbs down, -1, no, dislike
✊ raised fist
👊 punch, fist bump
👏 clap, applause
🙌 raised hands, hooray, praise
👐 open hands
🤲 palms up
🤝 handshake, deal
🙏 pray, please, thanks, folded hands
✍️ writing
💪 muscle, strong, flex
🧠 brain, smart
👀 eyes, look, watching
👁️ eye
👶 baby
🧑‍💻 technologist, developer, coder
👩‍💻 woman technologist
👨‍💻 man technologist
🤷 shrug
🤦 facepalm
🙋 raising hand
🙆 ok gesture
🙅 no gesture
💁 tipping hand
🏃 running, runner
💃 dancer, dance
🕺 man dancing
🐶 dog, puppy
🐱 cat, kitten
🐭 mouse
🐰 rabbit, bunny
🦊 fox
🐻 bear
🐼 panda
🐨 koala
🐯 tiger
🦁 lion
🐮 cow
🐷 pig
🐸 frog
🐵 monkey face
🐔 chicken
🐧 penguin
🐦 bird
🦆 duck
🦉 owl
🐝 bee, honeybee
🐛 bug
🦋 butterfly
🐌 snail, slow
🐞 ladybug
🐢 turtle, slow
🐍 snake, python
🐙 octopus
🦀 crab, rust
🐳 whale, docker
🐬 dolphin
🐟 fish
🦄 unicorn
🌵 cactus
🎄 christmas tree
🌲 evergreen tree
🌳 tree
🌴 palm tree
🌱 seedling, sprout, new
🌿 herb
🍀 four leaf clover, luck
🍁 maple leaf
🍂 fallen leaf, autumn
🌷 tulip
🌹 rose
🌻 sunflower
🌸 cherry blossom
💐 bouquet, flowers
🌞 sun with face
🌝 full moon face
🌙 crescent moon
⭐ star
🌟 glowing star
✨ sparkles, shiny
⚡ zap, lightning, fast
🔥 fire, hot, lit
🌈 rainbow
☀️ sunny, sun
⛅ partly cloudy
☁️ cloud
🌧️ rain
⛈️ storm
❄️ snowflake, snow
☃️ snowman
🌊 wave, ocean
💧 droplet, water
☔ umbrella
🍏 green apple
🍎 apple
🍐 pear
🍊 orange, tangerine
🍋 lemon
🍌 banana
🍉 watermelon
🍇 grapes
🍓 strawberry
🍒 cherries
🍑 peach
🥭 mango
🍍 pineapple
🥥 coconut
🥑 avocado
🍆 eggplant
🥕 carrot
🌽 corn
🌶️ hot pepper, spicy
🥦 broccoli
🍄 mushroom
🥜 peanuts
🍞 bread
🥐 croissant
🥨 pretzel
🧀 cheese
🥚 egg
🍳 cooking, fried egg
🥞 pancakes
🥓 bacon
🍔 hamburger, burger
🍟 fries
🍕 pizza
🌭 hot dog
🥪 sandwich
🌮 taco
🌯 burrito
🥗 salad
🍝 spaghetti, pasta
🍜 ramen, noodles
🍣 sushi
🍱 bento
🍚 rice
🍦 ice cream
🍩 doughnut, donut
🍪 cookie
🎂 birthday cake, birthday
🍰 cake
🧁 cupcake
🍫 chocolate
🍬 candy
🍿 popcorn
☕ coffee, tea, hot beverage
🍵 tea
🍺 beer
🍻 beers, cheers
🥂 clinking glasses, toast
🍷 wine
🍸 cocktail
🍾 champagne, bottle
🥤 cup with straw
⚽ soccer, football
🏀 basketball
🏈 american football
⚾ baseball
🎾 tennis
🏐 volleyball
🏓 ping pong
🏆 trophy, win
🥇 first place, gold medal
🥈 second place
🥉 third place
🏅 medal
🎯 dart, bullseye, target
🎮 video game, gaming
🎲 game die, dice
🧩 puzzle
🎨 art, palette
🎬 clapper, movie
🎤 microphone, sing
🎧 headphones, music
🎵 musical note, music
🎶 notes, music
🎸 guitar
🎹 piano
🚗 car
🚕 taxi
🚌 bus
🚓 police car
🚑 ambulance
🚒 fire engine
🚲 bicycle, bike
🛴 scooter
✈️ airplane, plane, travel
🚀 rocket, launch, ship it
🛸 ufo
🚢 ship
⚓ anchor
🚧 construction, wip
🚦 traffic light
🗺️ map
🏠 house, home
🏢 office, building
🏥 hospital
🏖️ beach
⛰️ mountain
🌋 volcano
🗽 statue of liberty
🗼 tower
⌚ watch
📱 phone, mobile
💻 laptop, computer
🖥️ desktop computer
⌨️ keyboard
🖱️ mouse computer
💾 floppy disk, save
💿 cd
📷 camera
🎥 movie camera
📺 tv, television
📻 radio
⏰ alarm clock
⏳ hourglass, waiting
⌛ hourglass done
🔋 battery
🔌 plug, electric
💡 bulb, idea, light
🔦 flashlight
🕯️ candle
💸 money with wings
💵 dollar
💰 money bag
💳 credit card
💎 gem, diamond
🔧 wrench, fix
🔨 hammer
🛠️ tools, hammer and wrench
⚙️ gear, settings
🔩 nut and bolt
🧰 toolbox
🧲 magnet
🧪 test tube, test
🔬 microscope
🔭 telescope
📡 satellite
💊 pill
🩹 adhesive bandage
🔑 key
🗝️ old key
🔒 lock, locked, secure
🔓 unlock, unlocked
🚪 door
🛏️ bed
🛒 shopping cart
🎁 gift, present
🎈 balloon
🎉 tada, party, hooray, celebration
🎊 confetti
🎀 ribbon
🏷️ label, tag
📦 package, box
📫 mailbox
📮 postbox
✉️ envelope, email
📧 e-mail
📝 memo, note, write
📄 page, document
📃 page with curl
📑 bookmark tabs
📊 bar chart, stats
📈 chart up, increasing, growth
📉 chart down, decreasing
📅 calendar, date
📆 tear-off calendar
🗓️ spiral calendar
📋 clipboard
📌 pushpin, pin
📍 round pushpin, location
📎 paperclip, attachment
✂️ scissors, cut
🖊️ pen
✏️ pencil, edit
🔍 search, magnifying glass
🔎 magnifying glass right
📚 books, library
📖 open book, read
🔖 bookmark
🔗 link, chain
📢 loudspeaker, announcement
📣 megaphone
🔔 bell, notification
🔕 no bell, mute
🔇 muted
🔊 loud
🏁 checkered flag, finish
🚩 red flag
🏳️ white flag
🏴 black flag
✅ white check mark, done, yes, check
☑️ ballot box with check
✔️ check mark
❌ x, cross, no, wrong
❎ cross mark button
➕ plus, add, +1
➖ minus
➗ divide
✖️ multiply
❓ question
❔ white question
❗ exclamation
‼️ double exclamation
⁉️ interrobang
⚠️ warning, caution
🚫 no entry, forbidden
⛔ no entry sign
🛑 stop sign
♻️ recycle
🔄 counterclockwise arrows, refresh
🔁 repeat
🔀 shuffle
▶️ play
⏸️ pause
⏹️ stop button
⏩ fast forward
⏪ rewind
⬆️ up arrow
⬇️ down arrow
⬅️ left arrow
➡️ right arrow
↩️ leftwards arrow with hook, undo
↪️ right arrow curving left, redo
🆕 new
🆗 ok button
🆙 up button
🆒 cool button
🆓 free
ℹ️ information, info
🔴 red circle
🟠 orange circle
🟡 yellow circle
🟢 green circle
🔵 blue circle
🟣 purple circle
⚫ black circle
⚪ white circle
🟥 red square
🟩 green square
🟦 blue square
🔺 red triangle up
🔻 red triangle down
💠 diamond with a dot
🔘 radio button
🏳️‍🌈 rainbow flag, pride
🇺🇸 flag united states, usa
🇬🇧 flag united kingdom, uk
🇫🇷 flag france
🇩🇪 flag germany
🇪🇸 flag spain
🇮🇹 flag italy
🇯🇵 flag japan
🇨🇳 flag china
🇮🇳 flag india
🇧🇷 flag brazil
🇨🇦 flag canada
🇺🇦 flag ukraine
🇪🇺 flag european union, eu
1️⃣ one, 1
2️⃣ two, 2
3️⃣ three, 3
4️⃣ four, 4
5️⃣ five, 5
🔟 ten, 10`;

  const ALL = TABLE.split('\n').map((line) => {
    const space = line.indexOf(' ');
    return { emoji: line.slice(0, space), names: line.slice(space + 1).split(',').map((s) => s.trim()) };
  });
  const byEmoji = new Map(ALL.map((e) => [e.emoji, e]));

  // search returns the emoji whose names start a word with query, those
  // whose first name starts with it first.
  function search(query) {
    const q = query.trim().toLowerCase();
    if (!q) return COMMON.map((e) => byEmoji.get(e) || { emoji: e, names: [e] });
    const first = [];
    const rest = [];
    for (const e of ALL) {
      if (e.names[0].startsWith(q)) first.push(e);
      else if (e.names.some((n) => n.startsWith(q) || n.includes(' ' + q))) rest.push(e);
    }
    return first.concat(rest);
  }

  function name(emoji) {
    return byEmoji.get(emoji)?.names[0] || emoji;
  }

  window.ParleyEmoji = { COMMON, ALL, search, name };
})();
