// The unused-code check: exports that nothing imports, and dependencies in package.json that nothing loads.
// Built on the TypeScript compiler API (already a dependency) rather than knip: one program over
// tsconfig.json's files, each identifier resolved by the type checker through its import and re-export
// aliases, so named, namespace (`z.object`) and dynamic (`const {x} = await import('./m.js')`) uses all count.
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface UnusedExport {
  /** relative to the project root */
  file: string;
  name: string;
  /** `nowhere`: not even its own file uses it (only these are reported); `own-file`: only its own file does */
  usedIn: 'nowhere' | 'own-file';
}

export interface UnusedCodeOptions {
  root: string;
  /**
   * Exports loaded by name from outside the TypeScript graph (functions-framework's `main`, the CLI's
   * `loadConnector`, the demo's `demo`), as `<glob-ish file pattern>#<name>`; `*` matches one path segment.
   */
  entryExports: readonly string[];
  /**
   * Folders of files outside the TypeScript graph (templates) whose `import {a, b} from '.../sdk/x.js'` lines
   * use those exports of `sdk/x.ts`.
   */
  templateDirs?: readonly string[];
}

const toPosix = (file: string) => file.split(path.sep).join('/');

function matches(pattern: string, file: string, name: string): boolean {
  const [filePattern, exportName] = pattern.split('#');
  if (exportName !== '*' && exportName !== name) return false;
  // `**` any folders, `*` one path segment
  const source = filePattern!
    .split('**')
    .map((part) => part.split('*').map((piece) => piece.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
    .join('.*');
  const regex = new RegExp(`^${source}$`);
  return regex.test(file);
}

/**
 * Every export of the project's own files that no other file imports (tests included) and its own file does
 * not use either: dead code. Exports only their own file uses are left alone (options types, constants tests
 * may want), as knip's `ignoreExportsUsedInFile` does.
 */
export function findUnusedExports(options: UnusedCodeOptions): UnusedExport[] {
  const {config} = ts.readConfigFile(path.join(options.root, 'tsconfig.json'), (file) => ts.sys.readFile(file));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, options.root);
  const program = ts.createProgram({rootNames: parsed.fileNames, options: {...parsed.options, noEmit: true}});
  const checker = program.getTypeChecker();
  const own = program.getSourceFiles().filter((sf) => !sf.isDeclarationFile && !sf.fileName.includes('/node_modules/'));

  // what other files import: alias chains (imports, re-exports) resolved to every symbol along the way
  const imported = new Set<ts.Symbol>();
  const wholeModules = new Set<ts.Symbol>();
  const markChain = (start: ts.Symbol | undefined) => {
    for (let symbol = start, depth = 0; symbol && depth < 16 && !imported.has(symbol); depth++) {
      imported.add(symbol);
      if (!(symbol.flags & ts.SymbolFlags.Alias)) break;
      symbol = checker.getImmediateAliasedSymbol(symbol);
    }
  };
  const exportOf = (moduleSymbol: ts.Symbol, name: string) => checker.getExportsOfModule(moduleSymbol).find((symbol) => symbol.getName() === name);

  for (const sf of own) {
    const visit = (node: ts.Node) => {
      if (ts.isImportSpecifier(node)) markChain(checker.getSymbolAtLocation(node.name));
      else if (ts.isImportClause(node) && node.name) markChain(checker.getSymbolAtLocation(node.name));
      else if (ts.isNamespaceImport(node) || ts.isNamespaceExport(node)) {
        const moduleSymbol = checker.getSymbolAtLocation((node.parent.parent as ts.ImportDeclaration | ts.ExportDeclaration).moduleSpecifier!);
        if (moduleSymbol) wholeModules.add(moduleSymbol);
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0]) {
        // import('./m.js'): `const {a, b: c} = await import(...)`, `(await import(...)).a`, or the whole module
        const moduleSymbol = checker.getSymbolAtLocation(node.arguments[0]);
        if (moduleSymbol) {
          let outer: ts.Node = node.parent;
          while (ts.isAwaitExpression(outer) || ts.isParenthesizedExpression(outer) || ts.isAsExpression(outer)) outer = outer.parent;
          if (ts.isVariableDeclaration(outer) && ts.isObjectBindingPattern(outer.name)) {
            for (const element of outer.name.elements) {
              const name = (element.propertyName ?? element.name) as ts.Identifier;
              markChain(exportOf(moduleSymbol, name.text));
            }
          } else if (ts.isPropertyAccessExpression(outer)) markChain(exportOf(moduleSymbol, outer.name.text));
          else wholeModules.add(moduleSymbol);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }

  // exports loaded by name from outside the graph, and what the templates import
  const moduleOf = (file: string) => {
    const sf = program.getSourceFile(path.join(options.root, file));
    return sf && checker.getSymbolAtLocation(sf);
  };
  for (const sf of own) {
    const file = toPosix(path.relative(options.root, sf.fileName));
    const moduleSymbol = checker.getSymbolAtLocation(sf);
    if (!moduleSymbol) continue;
    for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
      if (options.entryExports.some((pattern) => matches(pattern, file, symbol.getName()))) markChain(symbol);
    }
  }
  for (const dir of options.templateDirs ?? []) {
    for (const file of ts.sys.readDirectory(path.join(options.root, dir), ['.hbs'], undefined, undefined)) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'[^']*?\b(sdk\/[\w/-]+)\.js'/g)) {
        const moduleSymbol = moduleOf(`${match[2]}.ts`);
        if (!moduleSymbol) continue;
        for (const part of match[1]!.split(',')) {
          const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!;
          if (name) markChain(exportOf(moduleSymbol, name));
        }
      }
    }
  }

  const unused: UnusedExport[] = [];
  for (const sf of own) {
    const moduleSymbol = checker.getSymbolAtLocation(sf);
    const file = toPosix(path.relative(options.root, sf.fileName));
    if (!moduleSymbol || wholeModules.has(moduleSymbol) || /\.test\.ts$/.test(file)) continue;
    for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
      const name = symbol.getName();
      if (imported.has(symbol)) continue;
      if (!(symbol.declarations ?? []).some((declaration) => declaration.getSourceFile() === sf)) continue;
      unused.push({file, name, usedIn: usedInOwnFile(sf, symbol, checker) ? 'own-file' : 'nowhere'});
    }
  }
  return unused.filter((entry) => entry.usedIn === 'nowhere').sort((a, b) => (a.file + a.name < b.file + b.name ? -1 : 1));
}

/** Whether the file refers to the symbol anywhere but in its declaration and its export. */
function usedInOwnFile(sf: ts.SourceFile, symbol: ts.Symbol, checker: ts.TypeChecker): boolean {
  const name = symbol.getName();
  const local = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  let used = false;
  const visit = (node: ts.Node) => {
    if (used) return;
    if (ts.isIdentifier(node) && node.text === name) {
      const parent = node.parent;
      const isDeclarationName = (ts.isFunctionDeclaration(parent) || ts.isClassDeclaration(parent) || ts.isInterfaceDeclaration(parent) || ts.isTypeAliasDeclaration(parent) || ts.isVariableDeclaration(parent) || ts.isEnumDeclaration(parent)) && parent.name === node;
      if (!isDeclarationName && !ts.isExportSpecifier(parent)) {
        const found = checker.getSymbolAtLocation(node);
        if (found === local || found === symbol) used = true;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return used;
}

/**
 * Dependencies of package.json that no file loads: no import or require of the package (or a subpath)
 * in the project's source, and no mention in package.json's scripts, the `fivetran` entry point or CI.
 */
export function findUnusedDependencies(root: string, files: readonly string[], alsoUsed: readonly string[] = []): string[] {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
    scripts?: Record<string, string>;
  };
  const specifiers = new Set<string>();
  const sources: string[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|require(?:\.resolve)?\s*\(\s*|import\s+)['"]([^'"./][^'"]*)['"]/g)) specifiers.add(match[1]!);
    sources.push(text);
  }
  const packageOf = (specifier: string) => (specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
  const imported = new Set([...specifiers].map(packageOf));
  const text = [JSON.stringify(pkg.scripts ?? {}), ...['fivetran', '.circleci/config.yml'].filter((file) => existsSync(path.join(root, file))).map((file) => readFileSync(path.join(root, file), 'utf8'))].join('\n');
  const names = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})];
  // a package run by its command (`tsc`, `eslint`) from a script, the entry point or a spawn in the source
  const binsOf = (name: string): string[] => {
    const file = path.join(root, 'node_modules', name, 'package.json');
    if (!existsSync(file)) return [];
    const bin = (JSON.parse(readFileSync(file, 'utf8')) as {bin?: string | Record<string, string>}).bin;
    return typeof bin === 'string' ? [name.split('/').pop()!] : Object.keys(bin ?? {});
  };
  const everything = `${text}\n${sources.join('\n')}`;
  const runs = (name: string) => binsOf(name).some((bin) => new RegExp(`['"\\s]${bin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}['"\\s]`).test(everything));
  return names
    .filter((name) => !imported.has(name) && !alsoUsed.includes(name) && !runs(name))
    .filter((name) => !(name.startsWith('@types/') && (imported.has(name.slice('@types/'.length)) || name === '@types/node')))
    .filter((name) => !new RegExp(`(^|[\\s"'/])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([\\s"'/@]|$)`, 'm').test(text))
    .sort();
}
