// Lint: eslint's recommended rules and typescript-eslint's, on sources, tests and benchmarks.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/**",
      "dist/**",
      "packages/*/dist/**",
      "test-output/**",
      "breakwater-reports/**",
      "examples/**/node_modules/**",
      "examples/**/.next/**",
      "examples/**/generated/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        performance: "readonly",
        NodeJS: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": ["error", { paths: [{ name: "pg", message: "Only packages/runtime/src/database.ts talks to pg." }] }],
    },
  },
  { files: ["packages/runtime/src/database.ts", "examples/**"], rules: { "no-restricted-imports": "off" } },
);
