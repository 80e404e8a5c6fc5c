// A procedural, animated background in one emotion's colours, drawn on a canvas. Everything comes
// from the server's background payload (core.stage.background): the colours and their shares, the
// strength (how sure the audience's mood is), brightness and motion, and a seed. The seed drives
// every random choice, so a background can be drawn again exactly, and a new seed (every window gets
// one) gives a new picture even for the same emotion: soft drifting colour fields, slow waves and
// floating motes, their number, speed and opacity rising with the strength.
"use strict";

const StageScene = (() => {
  function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function weighted(rng, colours) {
    const total = colours.reduce((sum, c) => sum + c.share, 0) || 1;
    let x = rng() * total;
    for (const c of colours) {
      x -= c.share;
      if (x <= 0) return c.rgb;
    }
    return colours[colours.length - 1].rgb;
  }

  const rgba = (rgb, a) => `rgba(${rgb[0] | 0},${rgb[1] | 0},${rgb[2] | 0},${a})`;
  const shade = (rgb, k) => rgb.map((v) => Math.max(0, Math.min(255, v * k)));

  class Scene {
    constructor(background) {
      this.background = background;
      const rng = mulberry32(background.seed || 1);
      const colours = background.colours;
      const s = background.strength;
      const motion = background.motion;
      const sign = () => (rng() < 0.5 ? -1 : 1);
      this.angle = rng() * Math.PI * 2;
      this.base = [shade(weighted(rng, colours), 0.9), shade(weighted(rng, colours), 0.62)];
      this.blobs = [];
      const blobs = 5 + Math.floor(rng() * 4) + Math.round(3 * s);
      for (let i = 0; i < blobs; i += 1) {
        this.blobs.push({
          rgb: weighted(rng, colours),
          x: rng(), y: rng(),
          r: 0.22 + 0.38 * rng(),
          ox: 0.05 + 0.22 * rng(), oy: 0.05 + 0.18 * rng(),
          w: (0.015 + 0.06 * rng()) * motion * sign(),
          phase: rng() * Math.PI * 2,
          alpha: (0.45 + 0.45 * s) * (0.7 + 0.3 * rng()),
        });
      }
      this.waves = [];
      const waves = 2 + Math.floor(rng() * 3);
      for (let i = 0; i < waves; i += 1) {
        this.waves.push({
          rgb: shade(weighted(rng, colours), 1.15),
          y: 0.15 + 0.7 * rng(),
          amp: 0.03 + 0.1 * rng(),
          freq: 0.6 + 2.2 * rng(),
          speed: (0.08 + 0.25 * rng()) * motion * sign(),
          thick: 0.03 + 0.1 * rng(),
          alpha: 0.1 + 0.22 * s,
          phase: rng() * Math.PI * 2,
        });
      }
      this.motes = [];
      const motes = Math.round(12 + 48 * s);
      for (let i = 0; i < motes; i += 1) {
        this.motes.push({
          rgb: shade(weighted(rng, colours), 1.35),
          x: rng(), y: rng(),
          r: 0.002 + 0.006 * rng(),
          vy: (0.004 + 0.02 * rng()) * motion,
          vx: (rng() - 0.5) * 0.01 * motion,
          twinkle: rng() * Math.PI * 2,
        });
      }
    }

    draw(ctx, width, height, t) {
      const bg = this.background;
      ctx.globalCompositeOperation = "source-over";
      ctx.globalAlpha = 1;
      const dx = Math.cos(this.angle) * width;
      const dy = Math.sin(this.angle) * height;
      const base = ctx.createLinearGradient(width / 2 - dx / 2, height / 2 - dy / 2, width / 2 + dx / 2, height / 2 + dy / 2);
      base.addColorStop(0, rgba(this.base[0], 1));
      base.addColorStop(1, rgba(this.base[1], 1));
      ctx.fillStyle = base;
      ctx.fillRect(0, 0, width, height);
      const size = Math.max(width, height);
      for (const b of this.blobs) {
        const a = b.w * t * Math.PI * 2 + b.phase;
        const x = (b.x + b.ox * Math.cos(a)) * width;
        const y = (b.y + b.oy * Math.sin(a * 0.8)) * height;
        const r = b.r * size * (1 + 0.08 * Math.sin(a * 1.7));
        const g = ctx.createRadialGradient(x, y, 0, x, y, r);
        g.addColorStop(0, rgba(b.rgb, b.alpha));
        g.addColorStop(0.55, rgba(b.rgb, b.alpha * 0.45));
        g.addColorStop(1, rgba(b.rgb, 0));
        ctx.fillStyle = g;
        ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
      }
      ctx.lineCap = "round";
      for (const wave of this.waves) {
        ctx.beginPath();
        for (let i = 0; i <= 48; i += 1) {
          const u = i / 48;
          const y = (wave.y + wave.amp * Math.sin(u * wave.freq * Math.PI * 2 + wave.phase + wave.speed * t * Math.PI * 2)) * height;
          if (i === 0) ctx.moveTo(u * width, y);
          else ctx.lineTo(u * width, y);
        }
        ctx.strokeStyle = rgba(wave.rgb, wave.alpha);
        ctx.lineWidth = wave.thick * height;
        ctx.stroke();
      }
      for (const m of this.motes) {
        const y = (((m.y - m.vy * t) % 1) + 1) % 1;
        const x = (((m.x + m.vx * t) % 1) + 1) % 1;
        const glow = 0.35 + 0.45 * (0.5 + 0.5 * Math.sin(t * 1.3 + m.twinkle));
        ctx.fillStyle = rgba(m.rgb, glow * (0.4 + 0.6 * bg.strength));
        ctx.beginPath();
        ctx.arc(x * width, y * height, Math.max(1, m.r * size), 0, Math.PI * 2);
        ctx.fill();
      }
      // Confidence sets brightness: the whole picture dims towards black as it falls.
      if (bg.brightness < 1) {
        ctx.fillStyle = `rgba(0,0,0,${(1 - bg.brightness).toFixed(3)})`;
        ctx.fillRect(0, 0, width, height);
      }
    }
  }

  return { Scene, mulberry32 };
})();
