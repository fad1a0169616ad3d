import path from "node:path";
import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // breakwater ships TypeScript sources; pg stays a Node.js dependency.
  transpilePackages: ["breakwater"],
  serverExternalPackages: ["pg", "@prisma/adapter-pg"],
  outputFileTracingRoot: path.join(import.meta.dirname, "../.."),
};

export default nextConfig;
