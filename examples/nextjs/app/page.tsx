import { revalidatePath } from "next/cache";
import { prisma } from "../lib/prisma";

export const dynamic = "force-dynamic";

async function createUser(form: FormData) {
  "use server";
  const email = String(form.get("email") ?? "").trim();
  const role = String(form.get("role") ?? "EMPLOYEE") as "EMPLOYEE" | "MANAGER" | "ADMIN";
  if (email) await prisma.user.create({ data: { email, role } });
  revalidatePath("/");
}

export default async function Home() {
  const users = await prisma.user.findMany({ orderBy: { id: "asc" } });
  return (
    <main>
      <h1>Users</h1>
      <ul id="users">
        {users.map((u) => (
          <li key={u.id}>
            {u.email} — {u.role}
          </li>
        ))}
      </ul>
      <form action={createUser}>
        <input name="email" type="email" placeholder="email" required />
        <select name="role" defaultValue="EMPLOYEE">
          <option>EMPLOYEE</option>
          <option>MANAGER</option>
          <option>ADMIN</option>
        </select>
        <button type="submit">Create user</button>
      </form>
    </main>
  );
}
