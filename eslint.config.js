import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules', '.types', '**/*.generated.*'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // the dashboard's page scripts run in the browser, unbundled
    files: ['apps/coordinator/src/dashboard/**/*.js'],
    languageOptions: { globals: { document: 'readonly', EventSource: 'readonly', fetch: 'readonly', FormData: 'readonly' } }
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }]
    }
  }
)
