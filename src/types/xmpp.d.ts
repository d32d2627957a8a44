// Declarations for the parts of xmpp.js (and its ltx elements) that Parley uses: none of
// these packages publish types (`@types/xmpp__component` does not exist).

declare module '@xmpp/xml' {
  export type Node = Element | string;

  export class Element {
    constructor(name: string, attrs?: Record<string, string | number | undefined>);
    name: string;
    attrs: Record<string, string | undefined>;
    children: Node[];
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getAttr(name: string, xmlns?: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    text(val: string): this;
    attr(name: string): string | undefined;
    attr(name: string, value: string | number | undefined): this;
    append(...nodes: Node[]): this;
    c(name: string, attrs?: Record<string, string | number | undefined>): Element;
    t(text: string): this;
    up(): Element;
    root(): Element;
    remove(el: Element | string, xmlns?: string): this;
    toString(): string;
  }

  export type Child = Node | null | undefined | false | Child[];

  export function xml(
    name: string,
    attrs?: Record<string, string | number | undefined> | null,
    ...children: Child[]
  ): Element;

  export class XMLError extends Error {}

  export class Parser {
    constructor();
    on(event: 'start', fn: (el: Element) => void): this;
    on(event: 'element', fn: (el: Element) => void): this;
    on(event: 'end', fn: (el: Element) => void): this;
    on(event: 'error', fn: (err: Error) => void): this;
    write(data: string): void;
    end(data?: string): void;
  }

  export function escapeXML(s: string): string;
  export function escapeXMLText(s: string): string;

  export default xml;
}

declare module '@xmpp/jid' {
  export interface JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
    equals(other: JID): boolean;
  }
}

/** The status names xmpp.js connections go through. */
declare type XmppConnectionStatus =
  | 'offline'
  | 'connecting'
  | 'connect'
  | 'opening'
  | 'open'
  | 'online'
  | 'closing'
  | 'close'
  | 'disconnecting'
  | 'disconnect';

declare module '@xmpp/component' {
  import type { JID } from '@xmpp/jid';
  import type { Element } from '@xmpp/xml';

  export interface ComponentOptions {
    /** `xmpp://host:port` of the server's component listener. */
    service: string;
    /** The component's domain. */
    domain: string;
    password: string;
  }

  export interface Reconnect {
    delay: number;
    start(): void;
    stop(): void;
  }

  export interface Component {
    readonly status: XmppConnectionStatus;
    jid: JID | null;
    timeout: number;
    readonly options: { service: string; domain: string; lang?: string };
    reconnect: Reconnect;
    start(): Promise<void>;
    stop(): Promise<void>;
    connect(service: string): Promise<void>;
    open(options: { domain: string; lang?: string }): Promise<Element>;
    disconnect(timeout?: number): Promise<void>;
    send(el: Element): Promise<void>;
    sendMany(els: Element[]): Promise<void>;
    write(s: string): Promise<void>;
    on(event: 'stanza' | 'element' | 'nonza', fn: (el: Element) => void): this;
    on(event: 'error', fn: (err: Error) => void): this;
    on(event: 'status', fn: (status: XmppConnectionStatus, ...args: unknown[]) => void): this;
    on(event: 'online', fn: (jid: JID) => void): this;
    on(event: 'offline' | 'disconnect' | 'connect' | 'close', fn: (...args: unknown[]) => void): this;
    on(event: 'input' | 'output', fn: (s: string) => void): this;
    off(event: string, fn: (...args: never[]) => void): this;
    removeAllListeners(event?: string): this;
    listeners(event: string): ((...args: unknown[]) => void)[];
  }

  export function component(options: ComponentOptions): Component;
  export { xml } from '@xmpp/xml';
}

declare module '@xmpp/client' {
  import type { JID } from '@xmpp/jid';
  import type { Element } from '@xmpp/xml';

  export interface ClientOptions {
    service: string;
    domain?: string;
    username?: string;
    password?: string;
    resource?: string;
  }

  export interface IqCaller {
    request(el: Element, timeout?: number): Promise<Element>;
  }

  export interface IqCallee {
    get(ns: string, name: string, handler: (ctx: { stanza: Element; element: Element }) => unknown): void;
    set(ns: string, name: string, handler: (ctx: { stanza: Element; element: Element }) => unknown): void;
  }

  export interface Client {
    readonly status: XmppConnectionStatus;
    jid: JID | null;
    iqCaller: IqCaller;
    iqCallee: IqCallee;
    reconnect: { delay: number; start(): void; stop(): void };
    start(): Promise<JID>;
    stop(): Promise<void>;
    send(el: Element): Promise<void>;
    write(s: string): Promise<void>;
    on(event: 'stanza' | 'element', fn: (el: Element) => void): this;
    on(event: 'error', fn: (err: Error) => void): this;
    on(event: 'online', fn: (jid: JID) => void): this;
    on(event: 'offline' | 'disconnect', fn: (...args: unknown[]) => void): this;
    off(event: string, fn: (...args: never[]) => void): this;
  }

  export function client(options: ClientOptions): Client;
  export { xml } from '@xmpp/xml';
}
